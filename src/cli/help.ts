/**
 * The parser's help as this CLI prints it. @effect/cli renders every help page as
 * paragraphs separated by blank lines, none of them wrapped; this rewrites that text
 * (ANSI codes kept) so it reads on an 80-column terminal:
 *
 * - no doubled title (@effect/cli prints the program's name, then `stargraph 0.1.0`);
 * - none of the placeholder paragraphs it adds to options and arguments ("A user-defined
 *   piece of text.", "A true or false value.", "One of the following: …" under a heading
 *   that lists them, "This setting is optional." under every `[optional]` flag);
 * - a boolean flag and its negation (`--diff`, `--no-diff`) under one heading;
 * - the root page lists one summary line per command (`commandSummary`), not each
 *   command's full usage padded to the longest one;
 * - a subcommand's usage line names the program (`$ stargraph run …`);
 * - every line wrapped at {@link HELP_WIDTH} columns (a usage line between its
 *   `[…]` groups, continuation lines indented).
 */
import { COMMAND_NAMES, commandSummary } from "./commands.js"
import { stripAnsi } from "./terminal.js"

/** The width help pages are wrapped to. */
export const HELP_WIDTH = 80

/** Paragraphs @effect/cli adds that say nothing the heading or description does not. */
const PLACEHOLDERS = new Set(["A user-defined piece of text.", "A user-defined piece of text that is confidential.", "A true or false value.", "This setting is optional."])

const COMMANDS = new Set(COMMAND_NAMES)

const plain = (block: string): string => stripAnsi(block)
const indentOf = (block: string): number => /^ */.exec(plain(block))![0].length
const isHeading = (block: string): boolean => /^[A-Z]+$/.test(plain(block))

/** Words of `text` to wrap: at spaces outside `[…]` and `(…)` when `grouped`, else at every space. */
const words = (text: string, grouped: boolean, room: number): Array<string> => {
  if (!grouped) return text.split(" ").filter((w) => w !== "")
  const out: Array<string> = []
  let depth = 0
  let current = ""
  for (const ch of text) {
    if (ch === " " && depth === 0) {
      if (current !== "") out.push(current)
      current = ""
      continue
    }
    if (ch === "[" || ch === "(") depth++
    if ((ch === "]" || ch === ")") && depth > 0) depth--
    current += ch
  }
  if (current !== "") out.push(current)
  // A group wider than the line itself is broken at its spaces after all.
  return out.flatMap((w) => (plain(w).length > room ? w.split(" ") : [w]))
}

/** `block` (one paragraph, no newline) wrapped at `width`, continuation lines indented by `hang` spaces. */
const wrap = (block: string, width: number, hang: number, grouped: boolean): string => {
  if (plain(block).length <= width) return block
  const indent = indentOf(block)
  const lines: Array<string> = []
  let line = " ".repeat(indent)
  let size = indent
  let fresh = true
  for (const word of words(block.trimStart(), grouped, width - hang)) {
    const w = plain(word).length
    if (!fresh && size + 1 + w > width) {
      lines.push(line)
      line = " ".repeat(hang)
      size = hang
      fresh = true
    }
    line += fresh ? word : ` ${word}`
    size += fresh ? w : w + 1
    fresh = false
  }
  lines.push(line)
  return lines.join("\n")
}

/** The root page's command list, one line each: `  - name  summary`, names padded to the longest. */
const commandList = (): string => {
  const longest = Math.max(...COMMAND_NAMES.map((n) => n.length))
  return COMMAND_NAMES.map((name) => `  - ${name.padEnd(longest)}  ${commandSummary(name)}`).join("\n")
}

/** The body of `--no-x`'s entry, when it repeats `--x`'s word for word (one heading for both). */
const mergeNegations = (blocks: Array<string>): Array<string> => {
  const out: Array<string> = []
  let i = 0
  const entryEnd = (from: number): number => {
    let j = from + 1
    while (j < blocks.length && indentOf(blocks[j]!) > 0) j++
    return j
  }
  while (i < blocks.length) {
    const heading = plain(blocks[i]!)
    const end = entryEnd(i)
    const next = end < blocks.length ? plain(blocks[end]!) : ""
    if (/^--[\w-]+$/.test(heading) && next === `--no-${heading.slice(2)}`) {
      const nextEnd = entryEnd(end)
      const body = blocks.slice(i + 1, end)
      if (body.join("\n") === blocks.slice(end + 1, nextEnd).join("\n")) {
        out.push(blocks[i]!.replace(heading, `${heading} | ${next}`), ...body)
        i = nextEnd
        continue
      }
    }
    out.push(blocks[i]!)
    i++
  }
  return out
}

/** `text` (one help page from the parser, ANSI codes or not) as this CLI prints it. */
export const tidyHelp = (text: string): string => {
  const body = text.replace(/\s+$/, "")
  const trailing = text.slice(body.length)
  let blocks = body.split(/\n\n/)
  if (!blocks.some((b) => isHeading(b) && plain(b) === "USAGE")) return text
  // The title once: `stargraph 0.1.0`, not the name alone above it.
  if (blocks.length > 1 && plain(blocks[0]!) === "stargraph" && plain(blocks[1]!).startsWith("stargraph ")) blocks = blocks.slice(1)
  blocks = blocks.filter((b, i) => {
    const p = plain(b).trim()
    if (PLACEHOLDERS.has(p)) return false
    // "One of the following: a, b" under a heading `--flag a | b`, which lists them already.
    return !(p.startsWith("One of the following: ") && i > 0 && plain(blocks[i - 1]!).includes(" | "))
  })
  blocks = mergeNegations(blocks)
  const root = blocks.some((b) => isHeading(b) && plain(b) === "COMMANDS")
  if (root) {
    const at = blocks.findIndex((b) => isHeading(b) && plain(b) === "COMMANDS")
    let end = at + 1
    while (end < blocks.length && !isHeading(blocks[end]!)) end++
    blocks = [
      ...blocks.slice(0, at + 1),
      commandList(),
      ...blocks.slice(end),
      "Run `stargraph <command> --help` for a command's options and arguments."
    ]
  }
  blocks = blocks.map((b) => {
    const p = plain(b)
    if (!p.startsWith("$ ")) return b
    if (root && p === "$ stargraph") return b.replace("$ stargraph", "$ stargraph <command> [options] [arguments]")
    // A subcommand's usage names the program: `$ stargraph run …`, not `$ run …`.
    const named = p.startsWith("$ stargraph") ? b : b.replace("$ ", "$ stargraph ")
    const command = /^\$ stargraph (\S+)/.exec(plain(named))?.[1]
    const hang = command !== undefined && COMMANDS.has(command) ? `$ stargraph ${command} `.length : 4
    return named
      .split("\n")
      .map((line) => wrap(line, HELP_WIDTH, hang, true))
      .join("\n")
  })
  blocks = blocks.map((b) =>
    plain(b).startsWith("$ ") ? b : b.split("\n").map((line) => {
      // A command list entry keeps its summary column and hangs under it; anything else hangs under its own indent.
      const entry = /^ {2}- \S+ +/.exec(plain(line))
      if (entry === null) return wrap(line, HELP_WIDTH, indentOf(line), false)
      const column = entry[0].length
      return entry[0] + wrap(" ".repeat(column) + plain(line).slice(column), HELP_WIDTH, column, false).slice(column)
    }).join("\n")
  )
  return blocks.join("\n\n") + trailing
}
