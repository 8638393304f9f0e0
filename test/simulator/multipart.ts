export interface Part {
  name: string;
  filename?: string;
  contentType?: string;
  data: Buffer;
}

export function boundaryOf(contentType: string | undefined): string | null {
  if (!contentType || !/^multipart\/form-data/i.test(contentType)) return null;
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  return m ? (m[1] ?? m[2]).trim() : null;
}

/** Parses a complete multipart/form-data body (binary safe; parts are views into `body`). */
export function parseMultipart(body: Buffer, boundary: string): Part[] | null {
  const delim = Buffer.from("--" + boundary);
  const parts: Part[] = [];
  let pos = body.indexOf(delim);
  if (pos < 0) return null;
  for (;;) {
    pos += delim.length;
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) break; // closing "--"
    if (body[pos] === 0x0d && body[pos + 1] === 0x0a) pos += 2;
    const headEnd = body.indexOf("\r\n\r\n", pos);
    if (headEnd < 0) return null;
    const head = body.toString("utf8", pos, headEnd);
    const next = body.indexOf(Buffer.from("\r\n--" + boundary), headEnd + 4);
    if (next < 0) return null;
    const part: Part = { name: "", data: body.subarray(headEnd + 4, next) };
    for (const line of head.split("\r\n")) {
      const i = line.indexOf(":");
      if (i < 0) continue;
      const k = line.slice(0, i).trim().toLowerCase();
      const v = line.slice(i + 1).trim();
      if (k === "content-disposition") {
        part.name = /\bname="([^"]*)"/i.exec(v)?.[1] ?? "";
        const fn = /\bfilename\*=UTF-8''([^;]+)/i.exec(v)?.[1];
        part.filename = fn ? decodeURIComponent(fn) : /\bfilename="([^"]*)"/i.exec(v)?.[1];
      } else if (k === "content-type") part.contentType = v;
    }
    parts.push(part);
    pos = next + 2;
  }
  return parts;
}
