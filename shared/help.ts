/**
 * The --help text of every task. yargs' own layout (cliui's ESM build) cuts words at the column edge
 * ("attribute\nd", "--en\nd-date"), so the text is laid out here, from the same option definitions,
 * breaking lines only between words.
 */

export interface HelpOption {
  readonly name: string;
  readonly alias?: string;
  readonly describe?: string;
  readonly type?: string;
  readonly choices?: readonly unknown[];
  readonly default?: unknown;
  readonly required?: boolean;
}

export interface HelpText {
  readonly name: string;
  readonly description: string;
  readonly options: readonly HelpOption[];
  readonly examples: ReadonlyArray<readonly [string, string]>;
}

/** Lines of at most `width` characters, broken at spaces; a word longer than the line stays whole. */
export function wrapWords(text: string, width: number): string[] {
  const out: string[] = [];
  for (const para of text.split('\n')) {
    // [text, glue before it]: a list too long for a line ("a,b,c,...") may break after its commas, never inside a name
    const tokens: [string, string][] = para
      .split(/ +/)
      .filter((w) => w !== '')
      .flatMap((w) => (w.length > width ? w.split(/(?<=,)/).map((p, i): [string, string] => [p, i === 0 ? ' ' : '']) : [[w, ' '] as [string, string]]));
    let line = '';
    for (const [word, glue] of tokens) {
      if (line === '') line = word;
      else if (line.length + glue.length + word.length <= width) line += glue + word;
      else {
        out.push(line);
        line = word;
      }
    }
    out.push(line);
  }
  return out;
}

/** The width help is laid out for: the terminal's, or 80 when piped (Airflow, CI, `| less`). */
export function helpWidth(stream: { isTTY?: boolean; columns?: number }): number {
  return stream.isTTY === true && typeof stream.columns === 'number' && stream.columns >= 40 ? stream.columns : 80;
}

function valueHint(o: HelpOption): string {
  if (o.choices !== undefined && o.choices.length > 0) return ` ${o.choices.map(String).join('|')}`;
  if (o.type === 'boolean' || o.type === undefined) return '';
  return o.type === 'number' ? ' N' : ' VALUE';
}

/** Two columns, the left one as wide as the longest flag (at most a third of the width), each row wrapped on words. */
function columns(rows: ReadonlyArray<readonly [string, string]>, width: number): string[] {
  const indent = 2;
  const left = Math.min(Math.max(0, ...rows.map(([l]) => l.length)), Math.floor(width / 3));
  const right = Math.max(20, width - indent - left - 2);
  const out: string[] = [];
  for (const [l, r] of rows) {
    const text = wrapWords(r, right);
    if (l.length > left) {
      out.push(' '.repeat(indent) + l);
      for (const t of text) out.push(' '.repeat(indent + left + 2) + t);
    } else {
      text.forEach((t, i) => out.push(' '.repeat(indent) + (i === 0 ? l.padEnd(left) : ' '.repeat(left)) + '  ' + t));
    }
  }
  return out.map((s) => s.trimEnd());
}

export function renderHelp(h: HelpText, width: number): string {
  const rows = h.options.map((o): [string, string] => {
    const flag = `${o.alias !== undefined ? `-${o.alias}, ` : ''}--${o.name}${valueHint(o)}`;
    const notes: string[] = [];
    if (o.required === true) notes.push('required');
    if (o.default !== undefined && o.type !== 'boolean') notes.push(`default: ${Array.isArray(o.default) ? o.default.join(',') : String(o.default)}`);
    return [flag, `${o.describe ?? ''}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`.trim()];
  });
  const lines = [`Usage: ${h.name} [options]`, '', ...wrapWords(h.description, width), '', 'Options:', ...columns(rows, width)];
  if (h.examples.length > 0) {
    lines.push('', 'Examples:');
    for (const [cmd, what] of h.examples) {
      lines.push(...wrapWords(cmd.replace(/\$0/g, h.name), width - 4).map((l, i) => `${i === 0 ? '  ' : '    '}${l}`));
      lines.push(...wrapWords(what, width - 6).map((l) => `      ${l}`));
    }
  }
  return lines.join('\n') + '\n';
}
