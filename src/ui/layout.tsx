import type { Child } from "hono/jsx";

/** Plain, readable, high-contrast; visible focus; fits a phone. No external assets. */
const STYLE = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a;background:#f4f5f7}
main{max-width:34rem;margin:3rem auto;padding:2rem;background:#fff;border:1px solid #d8dbe0;border-radius:12px}
main.wide{max-width:72rem}
h1{font-size:1.5rem;margin:0 0 .5rem}
h2{font-size:1.15rem;margin:1.5rem 0 .5rem}
p{margin:.5rem 0}
.lede{color:#4a4f57}
fieldset{border:1px solid #d8dbe0;border-radius:8px;margin:1rem 0;padding:.75rem 1rem}
legend{font-weight:600;padding:0 .25rem}
label{display:block;font-weight:600;margin:1rem 0 .25rem}
fieldset label{font-weight:400;margin:.25rem 0;display:flex;gap:.5rem;align-items:center}
input[type=text],input[type=password]{width:100%;padding:.6rem .7rem;font:inherit;border:1px solid #8a8f98;border-radius:6px}
input[aria-invalid=true]{border-color:#b3261e;border-width:2px}
.hint{color:#4a4f57;font-size:.9rem;margin:.25rem 0 0}
.error{color:#b3261e;font-weight:600;margin:.25rem 0 0}
.banner{padding:.75rem 1rem;border-radius:8px;margin:1rem 0}
.banner.bad{background:#fdecea;border:1px solid #f1b5b0}
.banner.good{background:#e8f5ec;border:1px solid #a9d8b6}
button{margin-top:1.5rem;padding:.7rem 1.2rem;font:inherit;font-weight:600;color:#fff;background:#1f5fd1;border:0;border-radius:6px;cursor:pointer}
button.secondary{background:#4a4f57;margin:0}
:focus-visible{outline:3px solid #f5a300;outline-offset:2px}
.muted{color:#5c616a}
ul.plain{list-style:none;margin:0;padding:0}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.5rem 0}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e3e5e9;vertical-align:top}
th{background:#f4f5f7}
code{font-size:.85rem}
header.bar{display:flex;justify-content:space-between;align-items:center;gap:1rem}
`;

export function Layout(props: { title: string; nonce: string; wide?: boolean; children?: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="robots" content="noindex" />
        <title>{props.title}</title>
        <style nonce={props.nonce} dangerouslySetInnerHTML={{ __html: STYLE }} />
      </head>
      <body>
        <main class={props.wide ? "wide" : undefined}>{props.children}</main>
      </body>
    </html>
  );
}
