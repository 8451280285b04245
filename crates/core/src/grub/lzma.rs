//! A raw LZMA encoder (no header, no end marker) with the properties GRUB's
//! i386-pc decompressor (`lzma_decompress.img`) expects: lc=3, lp=0, pb=2,
//! a 64 KiB dictionary. The decoder is told the uncompressed size, so the
//! stream ends after the last symbol's range coder flush.
//!
//! Parsing is optimal in the LZMA SDK's sense (`GetOptimum`), simplified:
//! over a window of 1 KiB, the cheapest path of literals, short reps, reps
//! and matches (hash-chain match finder, every length of each) by the
//! model's prices at the window's start, in integer 1/16-bit units (no
//! floating point, so every target makes the same bytes). A match of 32
//! bytes or more is taken as it is. Deterministic; not byte-identical to
//! GRUB's encoder (the SDK's, with a binary-tree match finder and prices
//! updated as it goes), about 1 % larger.

/// lc: literal context bits (GRUB's decompressor expects 3).
pub const LC: u32 = 3;
/// lp: literal position bits (0).
pub const LP: u32 = 0;
/// pb: position bits (2).
pub const PB: u32 = 2;
/// The dictionary size grub-mkimage uses (`props.dictSize = 1 << 16`).
pub const DICT_SIZE: u32 = 1 << 16;
/// The LZMA properties byte for lc/lp/pb: `(pb * 5 + lp) * 9 + lc`.
pub const PROPS_BYTE: u8 = ((PB * 5 + LP) * 9 + LC) as u8;

const MATCH_LEN_MIN: usize = 2;
const MATCH_LEN_MAX: usize = 273;
const NUM_STATES: usize = 12;
const POS_STATES: usize = 1 << PB;
const NUM_REPS: usize = 4;
const END_POS_MODEL_INDEX: u32 = 14;
const NUM_FULL_DISTANCES: usize = 1 << (END_POS_MODEL_INDEX / 2);
const NUM_ALIGN_BITS: u32 = 4;
const PROB_INIT: u16 = 1024;
/// Stop searching once a match this long is found (`numFastBytes`).
const NICE_LEN: usize = 64;
/// Hash chain candidates examined per position (`cutValue`).
const CHAIN_DEPTH: usize = 32;
const HASH_BITS: u32 = 16;

struct RangeEncoder {
    low: u64,
    range: u32,
    cache: u8,
    cache_size: u64,
    out: Vec<u8>,
}

impl RangeEncoder {
    fn new() -> Self {
        RangeEncoder {
            low: 0,
            range: 0xffff_ffff,
            cache: 0,
            cache_size: 1,
            out: Vec::new(),
        }
    }

    fn shift_low(&mut self) {
        if (self.low as u32) < 0xff00_0000 || (self.low >> 32) != 0 {
            let carry = (self.low >> 32) as u8;
            let mut temp = self.cache;
            loop {
                self.out.push(temp.wrapping_add(carry));
                temp = 0xff;
                self.cache_size -= 1;
                if self.cache_size == 0 {
                    break;
                }
            }
            self.cache = (self.low >> 24) as u8;
        }
        self.cache_size += 1;
        self.low = (self.low & 0x00ff_ffff) << 8;
    }

    fn bit(&mut self, prob: &mut u16, bit: u32) {
        let bound = (self.range >> 11) * (*prob as u32);
        if bit == 0 {
            self.range = bound;
            *prob += (2048 - *prob) >> 5;
        } else {
            self.low += bound as u64;
            self.range -= bound;
            *prob -= *prob >> 5;
        }
        while self.range < (1 << 24) {
            self.range <<= 8;
            self.shift_low();
        }
    }

    fn direct(&mut self, value: u32, bits: u32) {
        for i in (0..bits).rev() {
            self.range >>= 1;
            if (value >> i) & 1 != 0 {
                self.low += self.range as u64;
            }
            while self.range < (1 << 24) {
                self.range <<= 8;
                self.shift_low();
            }
        }
    }

    fn tree(&mut self, probs: &mut [u16], bits: u32, value: u32) {
        let mut m = 1usize;
        for i in (0..bits).rev() {
            let b = (value >> i) & 1;
            self.bit(&mut probs[m], b);
            m = (m << 1) | b as usize;
        }
    }

    fn reverse_tree(&mut self, probs: &mut [u16], bits: u32, mut value: u32) {
        let mut m = 1usize;
        for _ in 0..bits {
            let b = value & 1;
            self.bit(&mut probs[m], b);
            m = (m << 1) | b as usize;
            value >>= 1;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        for _ in 0..5 {
            self.shift_low();
        }
        self.out
    }
}

struct LenEncoder {
    choice: u16,
    choice2: u16,
    low: [[u16; 8]; POS_STATES],
    mid: [[u16; 8]; POS_STATES],
    high: [u16; 256],
}

impl LenEncoder {
    fn new() -> Self {
        LenEncoder {
            choice: PROB_INIT,
            choice2: PROB_INIT,
            low: [[PROB_INIT; 8]; POS_STATES],
            mid: [[PROB_INIT; 8]; POS_STATES],
            high: [PROB_INIT; 256],
        }
    }
    fn encode(&mut self, rc: &mut RangeEncoder, len: usize, pos_state: usize) {
        let l = (len - MATCH_LEN_MIN) as u32;
        if l < 8 {
            rc.bit(&mut self.choice, 0);
            rc.tree(&mut self.low[pos_state], 3, l);
        } else if l < 16 {
            rc.bit(&mut self.choice, 1);
            rc.bit(&mut self.choice2, 0);
            rc.tree(&mut self.mid[pos_state], 3, l - 8);
        } else {
            rc.bit(&mut self.choice, 1);
            rc.bit(&mut self.choice2, 1);
            rc.tree(&mut self.high, 8, l - 16);
        }
    }
}

struct Model {
    literal: Vec<u16>,
    is_match: [[u16; POS_STATES]; NUM_STATES],
    is_rep: [u16; NUM_STATES],
    is_rep_g0: [u16; NUM_STATES],
    is_rep_g1: [u16; NUM_STATES],
    is_rep_g2: [u16; NUM_STATES],
    is_rep0_long: [[u16; POS_STATES]; NUM_STATES],
    pos_slot: [[u16; 64]; 4],
    /// The SDK's `posEncoders`, shifted by one so that slot 4's tree
    /// (which starts at index -1 + 1) needs no negative index.
    pos_special: [u16; NUM_FULL_DISTANCES + 1],
    align: [u16; 16],
    len: LenEncoder,
    rep_len: LenEncoder,
}

impl Model {
    fn new() -> Self {
        Model {
            literal: vec![PROB_INIT; 0x300 << (LC + LP)],
            is_match: [[PROB_INIT; POS_STATES]; NUM_STATES],
            is_rep: [PROB_INIT; NUM_STATES],
            is_rep_g0: [PROB_INIT; NUM_STATES],
            is_rep_g1: [PROB_INIT; NUM_STATES],
            is_rep_g2: [PROB_INIT; NUM_STATES],
            is_rep0_long: [[PROB_INIT; POS_STATES]; NUM_STATES],
            pos_slot: [[PROB_INIT; 64]; 4],
            pos_special: [PROB_INIT; NUM_FULL_DISTANCES + 1],
            align: [PROB_INIT; 16],
            len: LenEncoder::new(),
            rep_len: LenEncoder::new(),
        }
    }
}

/// A match finder over the whole input: hash chains of 3-byte prefixes.
struct MatchFinder<'a> {
    data: &'a [u8],
    head: Vec<u32>,
    prev: Vec<u32>,
    /// Positions below this are in the chains.
    inserted: usize,
}

const NIL: u32 = u32::MAX;

impl<'a> MatchFinder<'a> {
    fn new(data: &'a [u8]) -> Self {
        MatchFinder {
            data,
            head: vec![NIL; 1 << HASH_BITS],
            prev: vec![NIL; data.len()],
            inserted: 0,
        }
    }

    fn hash(&self, pos: usize) -> usize {
        let d = self.data;
        let v = (d[pos] as u32) | ((d[pos + 1] as u32) << 8) | ((d[pos + 2] as u32) << 16);
        (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
    }

    /// Adds every position before `upto` to the chains.
    fn insert_upto(&mut self, upto: usize) {
        while self.inserted < upto {
            let p = self.inserted;
            if p + 3 <= self.data.len() {
                let h = self.hash(p);
                self.prev[p] = self.head[h];
                self.head[h] = p as u32;
            }
            self.inserted += 1;
        }
    }

    /// Matches at `pos` of increasing length, each with the nearest
    /// distance giving it: `(len, dist)` with `dist` = distance - 1.
    fn find(&mut self, pos: usize, out: &mut Vec<(usize, u32)>) {
        out.clear();
        self.insert_upto(pos);
        let d = self.data;
        let avail = (d.len() - pos).min(MATCH_LEN_MAX);
        if avail < 3 {
            self.insert_upto(pos + 1);
            return;
        }
        let mut best = MATCH_LEN_MIN;
        let mut cand = self.head[self.hash(pos)];
        let mut depth = CHAIN_DEPTH;
        while cand != NIL && depth > 0 {
            let c = cand as usize;
            if c >= pos {
                // `pos` itself, inserted when the parser looked here before.
                cand = self.prev[c];
                continue;
            }
            let dist = pos - c;
            if dist > DICT_SIZE as usize {
                break;
            }
            if d[c + best] == d[pos + best] {
                let mut l = 0;
                while l < avail && d[c + l] == d[pos + l] {
                    l += 1;
                }
                if l > best {
                    best = l;
                    out.push((l, (dist - 1) as u32));
                    if l >= NICE_LEN.min(avail) {
                        break;
                    }
                }
            }
            cand = self.prev[c];
            depth -= 1;
        }
        self.insert_upto(pos + 1);
    }
}

fn len_to_pos_state(len: usize) -> usize {
    (len - MATCH_LEN_MIN).min(3)
}

fn pos_slot(dist: u32) -> u32 {
    if dist < 4 {
        dist
    } else {
        let n = 31 - dist.leading_zeros();
        (n << 1) | ((dist >> (n - 1)) & 1)
    }
}

/// One decision of the parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Literal,
    /// One byte repeated from `reps[0]`.
    ShortRep,
    /// A repeat of `reps[i]`, `len` bytes.
    Rep(usize, usize),
    /// A new match: `len` bytes at distance `dist + 1`.
    Match(usize, u32),
}

/// Compresses `data` as a raw LZMA stream (lc=3 lp=0 pb=2, 64 KiB
/// dictionary, no end marker).
pub fn compress(data: &[u8]) -> Vec<u8> {
    let mut e = Encoder {
        rc: RangeEncoder::new(),
        m: Model::new(),
        state: 0,
        reps: [0; NUM_REPS],
    };
    let mut mf = MatchFinder::new(data);
    let mut pos = 0usize;
    let mut ops = Vec::new();
    let mut parser = Parser::new();
    while pos < data.len() {
        parser.parse(data, pos, &e, &mut mf, &mut ops);
        for op in ops.drain(..) {
            pos = e.encode(data, pos, op);
        }
    }
    e.rc.finish()
}

/// The range coder, the model and the coder's state (`state`, `reps`).
struct Encoder {
    rc: RangeEncoder,
    m: Model,
    state: usize,
    reps: [u32; NUM_REPS],
}

impl Encoder {
    /// Codes `op` at `pos`; returns the position after it.
    fn encode(&mut self, data: &[u8], pos: usize, op: Op) -> usize {
        let (rc, m) = (&mut self.rc, &mut self.m);
        let state = self.state;
        let pos_state = pos & (POS_STATES - 1);
        match op {
            Op::Literal => {
                rc.bit(&mut m.is_match[state][pos_state], 0);
                let lit_state = literal_state(data, pos);
                let probs = &mut m.literal[0x300 * lit_state..0x300 * (lit_state + 1)];
                let byte = data[pos] as u32;
                if state < 7 {
                    let mut sym = byte | 0x100;
                    while sym < 0x10000 {
                        rc.bit(&mut probs[(sym >> 8) as usize], (sym >> 7) & 1);
                        sym <<= 1;
                    }
                } else {
                    let mut match_byte = data[pos - self.reps[0] as usize - 1] as u32;
                    let mut offs = 0x100u32;
                    let mut sym = byte | 0x100;
                    while sym < 0x10000 {
                        match_byte <<= 1;
                        rc.bit(
                            &mut probs[(offs + (match_byte & offs) + (sym >> 8)) as usize],
                            (sym >> 7) & 1,
                        );
                        sym <<= 1;
                        offs &= !(match_byte ^ sym);
                    }
                }
                self.state = next_state_literal(state);
                pos + 1
            }
            Op::ShortRep => {
                rc.bit(&mut m.is_match[state][pos_state], 1);
                rc.bit(&mut m.is_rep[state], 1);
                rc.bit(&mut m.is_rep_g0[state], 0);
                rc.bit(&mut m.is_rep0_long[state][pos_state], 0);
                self.state = if state < 7 { 9 } else { 11 };
                pos + 1
            }
            Op::Rep(i, len) => {
                rc.bit(&mut m.is_match[state][pos_state], 1);
                rc.bit(&mut m.is_rep[state], 1);
                if i == 0 {
                    rc.bit(&mut m.is_rep_g0[state], 0);
                    rc.bit(&mut m.is_rep0_long[state][pos_state], 1);
                } else {
                    rc.bit(&mut m.is_rep_g0[state], 1);
                    if i == 1 {
                        rc.bit(&mut m.is_rep_g1[state], 0);
                    } else {
                        rc.bit(&mut m.is_rep_g1[state], 1);
                        rc.bit(&mut m.is_rep_g2[state], (i == 3) as u32);
                    }
                }
                self.reps = reps_after_rep(self.reps, i);
                m.rep_len.encode(rc, len, pos_state);
                self.state = if state < 7 { 8 } else { 11 };
                pos + len
            }
            Op::Match(len, dist) => {
                rc.bit(&mut m.is_match[state][pos_state], 1);
                rc.bit(&mut m.is_rep[state], 0);
                m.len.encode(rc, len, pos_state);
                let slot = pos_slot(dist);
                rc.tree(&mut m.pos_slot[len_to_pos_state(len)], 6, slot);
                if slot >= 4 {
                    let footer_bits = (slot >> 1) - 1;
                    let base = (2 | (slot & 1)) << footer_bits;
                    let reduced = dist - base;
                    if slot < END_POS_MODEL_INDEX {
                        let at = (base - slot) as usize;
                        rc.reverse_tree(&mut m.pos_special[at..], footer_bits, reduced);
                    } else {
                        rc.direct(reduced >> NUM_ALIGN_BITS, footer_bits - NUM_ALIGN_BITS);
                        rc.reverse_tree(&mut m.align, NUM_ALIGN_BITS, reduced & 15);
                    }
                }
                self.reps = [dist, self.reps[0], self.reps[1], self.reps[2]];
                self.state = if state < 7 { 7 } else { 10 };
                pos + len
            }
        }
    }
}

fn literal_state(data: &[u8], pos: usize) -> usize {
    let prev = if pos > 0 { data[pos - 1] } else { 0 };
    ((pos & ((1 << LP) - 1)) << LC) + ((prev as usize) >> (8 - LC))
}

fn next_state_literal(state: usize) -> usize {
    if state < 4 {
        0
    } else if state < 10 {
        state - 3
    } else {
        state - 6
    }
}

fn reps_after_rep(mut reps: [u32; NUM_REPS], i: usize) -> [u32; NUM_REPS] {
    let d = reps[i];
    for k in (1..=i).rev() {
        reps[k] = reps[k - 1];
    }
    reps[0] = d;
    reps
}

/// Price of coding `bit` with probability `prob`, in 1/16 bits: the LZMA
/// SDK's integer table (`LzmaEnc_InitPriceTables`), no floating point, so
/// every target prices, and therefore parses, alike.
fn price_table() -> [u32; 128] {
    let mut t = [0u32; 128];
    let mut i = 8u32;
    while i < 2048 {
        let mut w = i;
        let mut bit_count = 0u32;
        for _ in 0..4 {
            w = w.wrapping_mul(w);
            bit_count <<= 1;
            while w >= 1 << 16 {
                w >>= 1;
                bit_count += 1;
            }
        }
        t[(i >> 4) as usize] = (11 << 4) - 15 - bit_count;
        i += 16;
    }
    t
}

/// The optimal parser (after the SDK's `GetOptimum`): over a window of
/// positions, the cheapest sequence of literals, short reps, reps and
/// matches by the model's current prices.
struct Parser {
    prices: [u32; 128],
    nodes: Vec<Node>,
    matches: Vec<(usize, u32)>,
    /// Prices of every match length per position state, for the window:
    /// `[pos_state * (MATCH_LEN_MAX + 1) + len]`.
    len_prices: Vec<u32>,
    rep_len_prices: Vec<u32>,
    /// Distance prices for the window: the position slot per length state
    /// (`[lps * 64 + slot]`), the full price of distances below 128
    /// (`[lps * 128 + dist]`), and the align bits (`[dist & 15]`).
    slot_prices: Vec<u32>,
    small_dist_prices: Vec<u32>,
    align_prices: [u32; 16],
}

#[derive(Clone, Copy)]
struct Node {
    price: u32,
    prev: usize,
    op: Op,
    state: usize,
    reps: [u32; NUM_REPS],
}

/// Positions parsed at once.
const OPT_WINDOW: usize = 1024;
/// A match this long is taken as it is.
const OPT_NICE: usize = 32;
const INFINITY: u32 = u32::MAX / 2;

impl Parser {
    fn new() -> Self {
        Parser {
            prices: price_table(),
            nodes: Vec::with_capacity(OPT_WINDOW + 1),
            matches: Vec::new(),
            len_prices: vec![0; POS_STATES * (MATCH_LEN_MAX + 1)],
            rep_len_prices: vec![0; POS_STATES * (MATCH_LEN_MAX + 1)],
            slot_prices: vec![0; 4 * 64],
            small_dist_prices: vec![0; 4 * NUM_FULL_DISTANCES],
            align_prices: [0; 16],
        }
    }

    /// Fills the window's length and distance price tables from the model.
    fn update_prices(&mut self, m: &Model) {
        for (l, table) in [(&m.len, 0), (&m.rep_len, 1)] {
            let high: Vec<u32> = (0..256).map(|v| self.tree(&l.high, 8, v)).collect();
            let c0 = self.bit(l.choice, 0);
            let c1 = self.bit(l.choice, 1);
            let c10 = c1 + self.bit(l.choice2, 0);
            let c11 = c1 + self.bit(l.choice2, 1);
            for ps in 0..POS_STATES {
                let row = ps * (MATCH_LEN_MAX + 1);
                for len in MATCH_LEN_MIN..=MATCH_LEN_MAX {
                    let v = (len - MATCH_LEN_MIN) as u32;
                    let price = if v < 8 {
                        c0 + self.tree(&l.low[ps], 3, v)
                    } else if v < 16 {
                        c10 + self.tree(&l.mid[ps], 3, v - 8)
                    } else {
                        c11 + high[(v - 16) as usize]
                    };
                    if table == 0 {
                        self.len_prices[row + len] = price;
                    } else {
                        self.rep_len_prices[row + len] = price;
                    }
                }
            }
        }
        for v in 0..16 {
            self.align_prices[v as usize] = self.reverse_tree(&m.align, NUM_ALIGN_BITS, v);
        }
        for lps in 0..4 {
            for slot in 0..64u32 {
                let mut price = self.tree(&m.pos_slot[lps], 6, slot);
                if slot >= END_POS_MODEL_INDEX {
                    price += ((slot >> 1) - 1 - NUM_ALIGN_BITS) << 4;
                }
                self.slot_prices[lps * 64 + slot as usize] = price;
            }
            for dist in 0..NUM_FULL_DISTANCES as u32 {
                let slot = pos_slot(dist);
                let mut price = self.slot_prices[lps * 64 + slot as usize];
                if slot >= 4 {
                    let footer_bits = (slot >> 1) - 1;
                    let base = (2 | (slot & 1)) << footer_bits;
                    price += self.reverse_tree(
                        &m.pos_special[(base - slot) as usize..],
                        footer_bits,
                        dist - base,
                    );
                }
                self.small_dist_prices[lps * NUM_FULL_DISTANCES + dist as usize] = price;
            }
        }
    }

    /// The price of distance `dist` for a match of `len` bytes.
    fn dist_price(&self, dist: u32, len: usize) -> u32 {
        let lps = len_to_pos_state(len);
        if (dist as usize) < NUM_FULL_DISTANCES {
            self.small_dist_prices[lps * NUM_FULL_DISTANCES + dist as usize]
        } else {
            self.slot_prices[lps * 64 + pos_slot(dist) as usize]
                + self.align_prices[(dist & 15) as usize]
        }
    }

    fn bit(&self, prob: u16, bit: u32) -> u32 {
        let p = if bit == 0 {
            prob as u32
        } else {
            2048 - prob as u32
        };
        self.prices[(p >> 4) as usize]
    }

    fn tree(&self, probs: &[u16], bits: u32, value: u32) -> u32 {
        let (mut m, mut price) = (1usize, 0);
        for i in (0..bits).rev() {
            let b = (value >> i) & 1;
            price += self.bit(probs[m], b);
            m = (m << 1) | b as usize;
        }
        price
    }

    fn reverse_tree(&self, probs: &[u16], bits: u32, mut value: u32) -> u32 {
        let (mut m, mut price) = (1usize, 0);
        for _ in 0..bits {
            let b = value & 1;
            price += self.bit(probs[m], b);
            m = (m << 1) | b as usize;
            value >>= 1;
        }
        price
    }

    fn literal_price(&self, m: &Model, data: &[u8], pos: usize, state: usize, rep0: u32) -> u32 {
        let lit_state = literal_state(data, pos);
        let probs = &m.literal[0x300 * lit_state..0x300 * (lit_state + 1)];
        let byte = data[pos] as u32;
        let mut price = 0;
        let mut sym = byte | 0x100;
        if state < 7 {
            while sym < 0x10000 {
                price += self.bit(probs[(sym >> 8) as usize], (sym >> 7) & 1);
                sym <<= 1;
            }
        } else {
            let mut match_byte = data[pos - rep0 as usize - 1] as u32;
            let mut offs = 0x100u32;
            while sym < 0x10000 {
                match_byte <<= 1;
                price += self.bit(
                    probs[(offs + (match_byte & offs) + (sym >> 8)) as usize],
                    (sym >> 7) & 1,
                );
                sym <<= 1;
                offs &= !(match_byte ^ sym);
            }
        }
        price
    }

    fn rep_price(&self, m: &Model, i: usize, state: usize, pos_state: usize) -> u32 {
        let mut p = self.bit(m.is_match[state][pos_state], 1) + self.bit(m.is_rep[state], 1);
        if i == 0 {
            p += self.bit(m.is_rep_g0[state], 0) + self.bit(m.is_rep0_long[state][pos_state], 1);
        } else {
            p += self.bit(m.is_rep_g0[state], 1);
            if i == 1 {
                p += self.bit(m.is_rep_g1[state], 0);
            } else {
                p +=
                    self.bit(m.is_rep_g1[state], 1) + self.bit(m.is_rep_g2[state], (i == 3) as u32);
            }
        }
        p
    }

    /// Fills `ops` with the coding of `data` from `pos` on: at least one
    /// op, as many as the window's cheapest path holds.
    fn parse(
        &mut self,
        data: &[u8],
        pos: usize,
        e: &Encoder,
        mf: &mut MatchFinder,
        ops: &mut Vec<Op>,
    ) {
        let m = &e.m;
        self.update_prices(m);
        let lp_at = |ps: usize, len: usize| ps * (MATCH_LEN_MAX + 1) + len;
        let end = (data.len() - pos).min(OPT_WINDOW);
        self.nodes.clear();
        self.nodes.resize(
            end + 1,
            Node {
                price: INFINITY,
                prev: 0,
                op: Op::Literal,
                state: 0,
                reps: [0; NUM_REPS],
            },
        );
        self.nodes[0] = Node {
            price: 0,
            prev: 0,
            op: Op::Literal,
            state: e.state,
            reps: e.reps,
        };
        let mut last = end;
        let mut j = 0;
        while j < last {
            if j > 0 {
                // The node is final: derive its coder state from its op.
                let n = self.nodes[j];
                let from = self.nodes[n.prev];
                let (state, reps) = match n.op {
                    Op::Literal => (next_state_literal(from.state), from.reps),
                    Op::ShortRep => (if from.state < 7 { 9 } else { 11 }, from.reps),
                    Op::Rep(i, _) => (
                        if from.state < 7 { 8 } else { 11 },
                        reps_after_rep(from.reps, i),
                    ),
                    Op::Match(_, d) => (
                        if from.state < 7 { 7 } else { 10 },
                        [d, from.reps[0], from.reps[1], from.reps[2]],
                    ),
                };
                self.nodes[j].state = state;
                self.nodes[j].reps = reps;
            }
            let p = pos + j;
            let Node {
                price: base,
                state,
                reps,
                ..
            } = self.nodes[j];
            let pos_state = p & (POS_STATES - 1);
            let mut matches = std::mem::take(&mut self.matches);
            mf.find(p, &mut matches);
            let avail = (data.len() - p).min(MATCH_LEN_MAX);
            let room = last - j;
            // A long match or rep ends the window here: it is taken next.
            let longest_rep = reps
                .iter()
                .map(|&r| rep_len(data, p, r, avail))
                .max()
                .unwrap_or(0);
            let longest = matches.last().map_or(0, |x| x.0).max(longest_rep);
            if longest >= OPT_NICE && j > 0 {
                last = j;
                self.matches = matches;
                break;
            }
            if longest >= OPT_NICE {
                // j == 0: take it directly (rep when it is as long).
                let (ml, md) = matches.last().copied().unwrap_or((0, 0));
                let (ri, rl) = reps
                    .iter()
                    .enumerate()
                    .map(|(i, &r)| (i, rep_len(data, p, r, avail)))
                    .max_by_key(|&(i, l)| (l, std::cmp::Reverse(i)))
                    .unwrap_or((0, 0));
                ops.push(if rl >= ml {
                    Op::Rep(ri, rl)
                } else {
                    Op::Match(ml, md)
                });
                self.matches = matches;
                return;
            }
            let is_match1 = self.bit(m.is_match[state][pos_state], 1);
            // Literal.
            let lit = base
                + self.bit(m.is_match[state][pos_state], 0)
                + self.literal_price(m, data, p, state, reps[0]);
            self.relax(j + 1, lit, j, Op::Literal);
            // Short rep.
            if (reps[0] as usize) < p && data[p] == data[p - reps[0] as usize - 1] {
                let sr = base
                    + is_match1
                    + self.bit(m.is_rep[state], 1)
                    + self.bit(m.is_rep_g0[state], 0)
                    + self.bit(m.is_rep0_long[state][pos_state], 0);
                self.relax(j + 1, sr, j, Op::ShortRep);
            }
            // Reps, every length.
            for (i, &r) in reps.iter().enumerate() {
                let l = rep_len(data, p, r, avail.min(room));
                if l < MATCH_LEN_MIN {
                    continue;
                }
                let rp = base + self.rep_price(m, i, state, pos_state);
                for len in MATCH_LEN_MIN..=l {
                    let price = rp + self.rep_len_prices[lp_at(pos_state, len)];
                    self.relax(j + len, price, j, Op::Rep(i, len));
                }
            }
            // Matches, every length, each with the nearest distance.
            let mp = base + is_match1 + self.bit(m.is_rep[state], 0);
            let mut len = MATCH_LEN_MIN + 1;
            for &(ml, dist) in &matches {
                let dp_cache = [
                    self.dist_price(dist, 2),
                    self.dist_price(dist, 3),
                    self.dist_price(dist, 4),
                    self.dist_price(dist, 5),
                ];
                while len <= ml.min(room) {
                    let price = mp
                        + self.len_prices[lp_at(pos_state, len)]
                        + dp_cache[len_to_pos_state(len)];
                    self.relax(j + len, price, j, Op::Match(len, dist));
                    len += 1;
                }
            }
            self.matches = matches;
            j += 1;
        }
        // Walk back from the end of the window.
        let mut path = Vec::new();
        let mut at = last;
        while at > 0 {
            let n = self.nodes[at];
            path.push(n.op);
            at = n.prev;
        }
        ops.extend(path.into_iter().rev());
    }

    fn relax(&mut self, to: usize, price: u32, from: usize, op: Op) {
        if let Some(n) = self.nodes.get_mut(to) {
            if price < n.price {
                n.price = price;
                n.prev = from;
                n.op = op;
            }
        }
    }
}

/// Length of the match of `pos` against the data `dist + 1` bytes back.
fn rep_len(data: &[u8], pos: usize, dist: u32, limit: usize) -> usize {
    let back = dist as usize + 1;
    if back > pos {
        return 0;
    }
    let mut l = 0;
    while l < limit && data[pos + l] == data[pos + l - back] {
        l += 1;
    }
    l
}

/// Decodes a raw stream of `size` bytes with these properties (lzma-rs,
/// through a classic `.lzma` header), as GRUB's decompressor would.
pub fn decompress(stream: &[u8], size: u64) -> crate::Result<Vec<u8>> {
    let mut with_header = vec![PROPS_BYTE];
    with_header.extend_from_slice(&DICT_SIZE.to_le_bytes());
    with_header.extend_from_slice(&size.to_le_bytes());
    with_header.extend_from_slice(stream);
    let mut out = Vec::new();
    lzma_rs::lzma_decompress(&mut &with_header[..], &mut out)
        .map_err(|e| crate::Error::corrupt("lzma", "GRUB core.img payload", e))?;
    if out.len() as u64 != size {
        return Err(crate::Error::corrupt(
            "lzma",
            "GRUB core.img payload",
            "ends early",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decompress(stream: &[u8], size: usize) -> Vec<u8> {
        super::decompress(stream, size as u64).unwrap()
    }

    fn round_trip(data: &[u8]) -> usize {
        let c = compress(data);
        assert_eq!(decompress(&c, data.len()), data);
        assert_eq!(compress(data), c, "deterministic");
        c.len()
    }

    #[test]
    fn round_trips() {
        round_trip(b"");
        round_trip(b"a");
        round_trip(b"ab");
        round_trip(b"abcabcabcabcabcabcabcabcabc");
        round_trip(&[0u8; 100_000]);
        // Pseudo-random bytes (incompressible) and text-like data with
        // long-distance repeats and every rep index in use.
        let mut x = 0x1234_5678u32;
        let noise: Vec<u8> = (0..70_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        round_trip(&noise);
        let mut text = Vec::new();
        for i in 0..20_000u32 {
            let words = [
                "grub", "module", "kernel", "efi", "lzma", "\0\0\0\0", "x86_64",
            ];
            text.extend_from_slice(words[(i * 7 % 13 % 7) as usize].as_bytes());
            text.push(b' ' + (i % 3) as u8);
            if i % 97 == 0 {
                text.extend_from_slice(&noise[(i as usize * 31) % 60_000..][..40]);
            }
        }
        let n = round_trip(&text);
        assert!(n < text.len() / 4, "{n} of {}", text.len());
    }
}
