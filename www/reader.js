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
    self.postMessage({ type: 'chunk', offset, data, ranges: dataRanges(data) }, [data]);
  }
}

// [start, end, start, end, …] of the 64 KiB blocks of `buf` (the last one
// may be short) that hold a non-zero byte, adjacent ones merged.
function dataRanges(buf) {
  const BLOCK = 1 << 16;
  const words = new Int32Array(buf, 0, buf.byteLength >> 2);
  const bytes = new Uint8Array(buf);
  const ranges = [];
  for (let start = 0; start < buf.byteLength; start += BLOCK) {
    const end = Math.min(start + BLOCK, buf.byteLength);
    let data = false;
    const wend = end >> 2;
    for (let i = start >> 2; i < wend; i++) if (words[i] !== 0) { data = true; break; }
    for (let i = wend << 2; !data && i < end; i++) if (bytes[i] !== 0) data = true;
    if (!data) continue;
    if (ranges.length && ranges[ranges.length - 1] === start) ranges[ranges.length - 1] = end;
    else ranges.push(start, end);
  }
  return ranges;
}
