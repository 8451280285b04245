// One of the build worker's parallel file readers (worker.js
// imgforgeReaders): it reads its stripe of a File — the chunks at start,
// start + stride, … below end — with FileReaderSync and posts each one's
// ArrayBuffer (transferred, not copied) with its offset. At most `ahead`
// chunks are out at a time: the build worker sends 'ack' when it is done
// with one, so memory stays bounded however fast the disk is.
let job = null;
let credits = 0;
const reader = new FileReaderSync();

self.onmessage = (e) => {
  if (e.data === 'ack') credits++;
  else {
    job = { ...e.data, next: e.data.start };
    credits = job.ahead;
  }
  pump();
};

function pump() {
  while (job && credits > 0 && job.next < job.end) {
    const offset = job.next;
    const end = Math.min(offset + job.chunk, job.end);
    let data;
    try {
      data = reader.readAsArrayBuffer(job.file.slice(offset, end));
      if (data.byteLength !== end - offset) {
        throw new Error(`${data.byteLength} bytes at offset ${offset} where ${end - offset} were expected (the file changed?)`);
      }
    } catch (err) {
      self.postMessage({ type: 'error', offset, message: `${err?.name ?? 'Error'}: ${err?.message ?? err}` });
      job = null;
      return;
    }
    job.next += job.stride;
    credits--;
    self.postMessage({ type: 'chunk', offset, data }, [data]);
  }
}
