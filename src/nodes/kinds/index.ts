/**
 * The built-in node kinds, in one list: the IR validator, the docs table
 * (`docs/nodes.md`, checked by a test) and the graph compiler all read it. Adding a kind
 * is one file in this folder plus one line here.
 */
import type { NodeKind } from "../NodeKind.js"
import { BrokerKind } from "./broker.js"
import { CodeKind } from "./code.js"
import { DspyKind } from "./dspy.js"
import { EchoKind } from "./echo.js"
import { FunctionKind } from "./function.js"
import { HaltKind } from "./halt.js"
import { InterruptKind } from "./interrupt.js"
import { MapKind } from "./map.js"
import { MlKind } from "./ml.js"
import { NoopKind } from "./noop.js"
import { PassthroughKind } from "./passthrough.js"
import { ClassifyKind, ExtractKind, JudgeKind, PlanKind, ReasonKind, SummarizeKind } from "./presets.js"
import { RagKind } from "./rag.js"
import { ReactKind } from "./react.js"
import { SetKind } from "./set.js"
import { SubgraphKind } from "./subgraph.js"
import { TemplateKind } from "./template.js"
import { ToolKind } from "./tool.js"
import { WriteArtifactKind } from "./writeArtifact.js"

/** Every built-in node kind. */
export const builtinKinds: ReadonlyArray<NodeKind> = [
  SetKind,
  FunctionKind,
  InterruptKind,
  NoopKind,
  EchoKind,
  PassthroughKind,
  HaltKind,
  TemplateKind,
  SubgraphKind,
  MapKind,
  ToolKind,
  WriteArtifactKind,
  DspyKind,
  ReasonKind,
  SummarizeKind,
  ClassifyKind,
  ExtractKind,
  JudgeKind,
  PlanKind,
  ReactKind,
  RagKind,
  CodeKind,
  MlKind,
  BrokerKind
]
