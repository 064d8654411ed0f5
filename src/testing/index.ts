/**
 * `stargraph/testing`: conformance suites an application runs against its own Layers.
 */
export { cases as checkpointerContractCases, checkpointerContract, type ContractCase, type ContractCheck, ContractViolation } from "./CheckpointerContract.js"
