/**
 * The built-in `std.*` tools, in the default `ToolRegistry`. The network tools
 * (`std.http_fetch`, `std.http_request`, `std.fetch_page`, `std.web_search`,
 * `std.wikipedia`, `std.arxiv` alias `std.arxiv_search`) are refused unless the run is
 * granted `net.fetch`; the file tools (`std.file_read`, `std.file_list`, `std.file_write`)
 * unless it is granted `fs.read` or `fs.write`, and they stay inside the tools'
 * filesystem root. The original's other std tools are not shipped: see {@link notShipped}.
 */
import type { Tool } from "../Tool.js"
import { arxiv, arxivSearch } from "./arxiv.js"
import { calculator } from "./calculator.js"
import { fetchPage } from "./fetchPage.js"
import { fileList, fileRead, fileWrite } from "./files.js"
import { httpFetch } from "./httpFetch.js"
import { httpRequest } from "./httpRequest.js"
import { jsonPath } from "./jsonPath.js"
import { regexExtract } from "./regexExtract.js"
import { templateRender } from "./templateRender.js"
import { webSearch } from "./webSearch.js"
import { wikipedia } from "./wikipedia.js"

/** Every `std.*` tool. */
export const stdTools: ReadonlyArray<Tool> = [
  calculator,
  jsonPath,
  regexExtract,
  templateRender,
  httpFetch,
  httpRequest,
  fetchPage,
  webSearch,
  wikipedia,
  arxiv,
  arxivSearch,
  fileRead,
  fileWrite,
  fileList
]

/** The original's std tools this runtime does not ship (a graph naming one is told so). */
export const notShipped: ReadonlyArray<string> = [
  "std.sql_query",
  "std.python_exec",
  "std.shell",
  "std.graph_invoke"
]
