/** Test support: writes small parquet files (no parquet writer is a dependency). */
// --- A minimal parquet writer (Thrift compact protocol, PLAIN, uncompressed, required
// BYTE_ARRAY UTF8 columns) so the reader is tested on real parquet bytes. ---
class Thrift {
  bytes: number[] = [];
  private last: number[] = [0];
  varint(n: bigint) {
    let v = n;
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) b |= 0x80;
      this.bytes.push(b);
    } while (v > 0n);
  }
  zigzag(n: number | bigint) {
    const v = BigInt(n);
    this.varint(v >= 0n ? v << 1n : (-v << 1n) - 1n);
  }
  field(id: number, type: number) {
    const delta = id - this.last[this.last.length - 1];
    if (delta > 0 && delta <= 15) this.bytes.push((delta << 4) | type);
    else {
      this.bytes.push(type);
      this.zigzag(id);
    }
    this.last[this.last.length - 1] = id;
  }
  i32(id: number, v: number) { this.field(id, 5); this.zigzag(v); }
  i64(id: number, v: number) { this.field(id, 6); this.zigzag(v); }
  str(id: number, s: string) { this.field(id, 8); this.binary(s); }
  binary(s: string) { const b = Buffer.from(s); this.varint(BigInt(b.length)); this.bytes.push(...b); }
  struct(id: number, body: () => void) { this.field(id, 12); this.begin(); body(); this.end(); }
  begin() { this.last.push(0); }
  end() { this.bytes.push(0); this.last.pop(); }
  list(id: number, elemType: number, n: number, each: (i: number) => void) {
    this.field(id, 9);
    this.bytes.push(n < 15 ? (n << 4) | elemType : 0xf0 | elemType);
    if (n >= 15) this.varint(BigInt(n));
    for (let i = 0; i < n; i++) each(i);
  }
}

export function parquet(columns: Record<string, string[]>): Buffer {
  const names = Object.keys(columns);
  const rows = columns[names[0]].length;
  const parts: Buffer[] = [Buffer.from("PAR1")];
  let offset = 4;
  const chunks: { name: string; offset: number; size: number }[] = [];
  for (const name of names) {
    const data = Buffer.concat(columns[name].map((s) => {
      const b = Buffer.from(s);
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      return Buffer.concat([len, b]);
    }));
    const h = new Thrift();
    h.begin();
    h.i32(1, 0); // DATA_PAGE
    h.i32(2, data.length);
    h.i32(3, data.length);
    h.struct(5, () => { h.i32(1, rows); h.i32(2, 0); h.i32(3, 3); h.i32(4, 3); });
    h.end();
    const page = Buffer.concat([Buffer.from(h.bytes), data]);
    chunks.push({ name, offset, size: page.length });
    parts.push(page);
    offset += page.length;
  }
  const m = new Thrift();
  m.begin();
  m.i32(1, 1);
  m.list(2, 12, names.length + 1, (i) => {
    m.begin();
    if (i === 0) { m.str(4, "schema"); m.i32(5, names.length); }
    else { m.i32(1, 6); m.i32(3, 0); m.str(4, names[i - 1]); m.i32(6, 0); }
    m.end();
  });
  m.i64(3, rows);
  m.list(4, 12, 1, () => {
    m.begin();
    m.list(1, 12, chunks.length, (i) => {
      m.begin();
      m.i64(2, chunks[i].offset);
      m.struct(3, () => {
        m.i32(1, 6);
        m.list(2, 5, 1, () => m.zigzag(0));
        m.list(3, 8, 1, () => m.binary(chunks[i].name));
        m.i32(4, 0);
        m.i64(5, rows);
        m.i64(6, chunks[i].size);
        m.i64(7, chunks[i].size);
        m.i64(9, chunks[i].offset);
      });
      m.end();
    });
    m.i64(2, chunks.reduce((s, c) => s + c.size, 0));
    m.i64(3, rows);
    m.end();
  });
  m.end();
  const footer = Buffer.from(m.bytes);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(footer.length);
  return Buffer.concat([...parts, footer, len, Buffer.from("PAR1")]);
}

