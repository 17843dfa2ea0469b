export { passThroughAuthFactory } from "./evaluator.js";
export { checkResponseToVerdict } from "./grpc.js";
