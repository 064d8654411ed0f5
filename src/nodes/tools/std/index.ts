/**
 * The built-in `std.*` tools, in the default `ToolRegistry`. The network tools
 * (`std.http_fetch`, `std.http_request`, `std.fetch_page`, `std.web_search`,
 * `std.wikipedia`, `std.arxiv` alias `std.arxiv_search`) are refused unless the run is
 * granted `net.fetch`; the file tools (`std.file_read`, `std.file_list`, `std.file_write`)
 * unless it is granted `fs.read` or `fs.write`, and they stay inside the tools'
 * filesystem root. `std.python_exec` and `std.shell` run a child process and are refused
 * unless it is granted `tools:std:exec` or `tools:std:shell`; `std.sql_query` reads a SQLite
 * file in the filesystem root under `fs.read`. `std.graph_invoke` runs a graph file in the
 * filesystem root to completion, unless refused without `tools:std:graph_invoke`.
 */
import type { Tool } from "../Tool.js"
import { arxiv, arxivSearch } from "./arxiv.js"
import { calculator } from "./calculator.js"
import { fetchPage } from "./fetchPage.js"
import { fileList, fileRead, fileWrite } from "./files.js"
import { graphInvoke } from "./graphInvoke.js"
import { httpFetch } from "./httpFetch.js"
import { httpRequest } from "./httpRequest.js"
import { jsonPath } from "./jsonPath.js"
import { pythonExec } from "./pythonExec.js"
import { regexExtract } from "./regexExtract.js"
import { shell } from "./shell.js"
import { sqlQuery } from "./sqlQuery.js"
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
  fileList,
  pythonExec,
  shell,
  sqlQuery,
  graphInvoke
]

/** The original's std tools this runtime does not ship (a graph naming one is told so): none now. */
export const notShipped: ReadonlyArray<string> = []
