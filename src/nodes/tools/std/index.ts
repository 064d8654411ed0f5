/**
 * The built-in `std.*` tools, in the default `ToolRegistry`. None touches the network
 * but `std.http_fetch`, which is refused unless the run is granted `net.fetch`.
 */
import type { Tool } from "../Tool.js"
import { calculator } from "./calculator.js"
import { httpFetch } from "./httpFetch.js"
import { jsonPath } from "./jsonPath.js"
import { regexExtract } from "./regexExtract.js"
import { templateRender } from "./templateRender.js"

/** Every `std.*` tool. */
export const stdTools: ReadonlyArray<Tool> = [calculator, jsonPath, regexExtract, templateRender, httpFetch]
