/**
 * A small XML reader for the feeds the search tools parse (arXiv's Atom): one linear
 * scan building a tree of elements, with no regular expression over the document. It
 * refuses any declaration (`<!DOCTYPE`, `<!ENTITY`: no entity expansion, no external
 * fetch), and decodes the five predefined entities and character references; another
 * named reference is left as written. Namespaces are not resolved: names keep their
 * prefix (`arxiv:comment`).
 */
import * as Either from "effect/Either"

/** An element: its name, attributes, element children and its own text (CDATA included). */
export interface XmlElement {
  readonly name: string
  readonly attributes: Readonly<Record<string, string>>
  readonly children: ReadonlyArray<XmlElement>
  readonly text: string
}

interface Building {
  readonly name: string
  readonly attributes: Record<string, string>
  readonly children: Array<XmlElement>
  text: Array<string>
}

const PREDEFINED: Readonly<Record<string, string>> = { amp: "&", lt: "<", gt: ">", quot: "\"", apos: "'" }
/** The longest reference looked at after a `&` (`#x10FFFF;` and the predefined names fit). */
const MAX_REFERENCE = 10

/** `text` with its entity and character references decoded (a bounded look past each `&`). */
export const decodeReferences = (text: string): string => {
  const out: Array<string> = []
  let i = 0
  for (;;) {
    const amp = text.indexOf("&", i)
    if (amp === -1) break
    out.push(text.slice(i, amp))
    let semi = -1
    for (let j = amp + 1; j < text.length && j <= amp + MAX_REFERENCE; j++) {
      if (text.charCodeAt(j) === 59) {
        semi = j
        break
      }
    }
    const name = semi === -1 ? "" : text.slice(amp + 1, semi)
    let decoded: string | undefined = PREDEFINED[name]
    if (decoded === undefined && name.startsWith("#")) {
      const hex = name[1] === "x" || name[1] === "X"
      const digits = name.slice(hex ? 2 : 1)
      const valid = digits !== "" && Array.from(digits).every((c) => (hex ? /[0-9a-fA-F]/ : /[0-9]/).test(c))
      const code = valid ? parseInt(digits, hex ? 16 : 10) : NaN
      if (code > 0 && code <= 0x10ffff) decoded = String.fromCodePoint(code)
    }
    if (decoded === undefined) {
      out.push("&")
      i = amp + 1
    } else {
      out.push(decoded)
      i = semi + 1
    }
  }
  out.push(text.slice(i))
  return out.join("")
}

const isSpace = (code: number): boolean => code === 32 || code === 9 || code === 10 || code === 13

/** The root element of `doc`, or why it is not well-formed enough to read. */
export const parse = (doc: string): Either.Either<XmlElement, string> => {
  const stack: Array<Building> = []
  let root: XmlElement | undefined
  const addText = (text: string): string | undefined => {
    const top = stack[stack.length - 1]
    if (top !== undefined) top.text.push(text)
    else if (Array.from(text).some((c) => !isSpace(c.charCodeAt(0)))) return "text outside the root element"
    return undefined
  }
  const close = (): string | undefined => {
    const done = stack.pop()!
    const element: XmlElement = { name: done.name, attributes: done.attributes, children: done.children, text: done.text.join("") }
    const parent = stack[stack.length - 1]
    if (parent !== undefined) parent.children.push(element)
    else if (root !== undefined) return "more than one root element"
    else root = element
    return undefined
  }
  const n = doc.length
  let i = 0
  while (i < n) {
    const lt = doc.indexOf("<", i)
    const problem = addText(decodeReferences(lt === -1 ? doc.slice(i) : doc.slice(i, lt)))
    if (problem !== undefined) return Either.left(problem)
    if (lt === -1) break
    if (doc.startsWith("<?", lt)) {
      const end = doc.indexOf("?>", lt + 2)
      if (end === -1) return Either.left("an unclosed processing instruction")
      i = end + 2
    } else if (doc.startsWith("<!--", lt)) {
      const end = doc.indexOf("-->", lt + 4)
      if (end === -1) return Either.left("an unclosed comment")
      i = end + 3
    } else if (doc.startsWith("<![CDATA[", lt)) {
      const end = doc.indexOf("]]>", lt + 9)
      if (end === -1) return Either.left("an unclosed CDATA section")
      const cdata = addText(doc.slice(lt + 9, end))
      if (cdata !== undefined) return Either.left(cdata)
      i = end + 3
    } else if (doc.startsWith("<!", lt)) {
      return Either.left("a DTD or other declaration (refused: no entity is expanded)")
    } else if (doc.charCodeAt(lt + 1) === 47) {
      const end = doc.indexOf(">", lt + 2)
      if (end === -1) return Either.left("an unclosed end tag")
      const name = doc.slice(lt + 2, end).trim()
      const top = stack[stack.length - 1]
      if (top === undefined || top.name !== name) return Either.left(`an end tag </${name.slice(0, 40)}> with no matching start tag`)
      const closing = close()
      if (closing !== undefined) return Either.left(closing)
      i = end + 1
    } else {
      // A start tag: its name, then name="value" attributes, then `>` or `/>`.
      let j = lt + 1
      while (j < n && !isSpace(doc.charCodeAt(j)) && doc[j] !== ">" && doc[j] !== "/") j++
      const name = doc.slice(lt + 1, j)
      if (name === "") return Either.left("a '<' that starts no tag")
      const attributes: Record<string, string> = {}
      let selfClosing = false
      for (;;) {
        while (j < n && isSpace(doc.charCodeAt(j))) j++
        if (j >= n) return Either.left(`an unclosed start tag <${name.slice(0, 40)}`)
        if (doc[j] === ">") break
        if (doc.startsWith("/>", j)) {
          selfClosing = true
          j++
          break
        }
        const nameAt = j
        while (j < n && !isSpace(doc.charCodeAt(j)) && doc[j] !== "=" && doc[j] !== ">" && doc[j] !== "/") j++
        const attribute = doc.slice(nameAt, j)
        while (j < n && isSpace(doc.charCodeAt(j))) j++
        if (attribute === "" || doc[j] !== "=") return Either.left(`a malformed attribute in <${name.slice(0, 40)}>`)
        j++
        while (j < n && isSpace(doc.charCodeAt(j))) j++
        const quote = doc[j]
        if (quote !== "\"" && quote !== "'") return Either.left(`an unquoted attribute value in <${name.slice(0, 40)}>`)
        const end = doc.indexOf(quote, j + 1)
        if (end === -1) return Either.left(`an unclosed attribute value in <${name.slice(0, 40)}>`)
        attributes[attribute] = decodeReferences(doc.slice(j + 1, end))
        j = end + 1
      }
      if (stack.length === 0 && root !== undefined) return Either.left("more than one root element")
      stack.push({ name, attributes, children: [], text: [] })
      if (selfClosing) {
        const closing = close()
        if (closing !== undefined) return Either.left(closing)
      }
      i = j + 1
    }
  }
  if (stack.length > 0) return Either.left(`an unclosed element <${stack[stack.length - 1]!.name.slice(0, 40)}>`)
  return root === undefined ? Either.left("no root element") : Either.right(root)
}
