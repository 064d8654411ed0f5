/** Minimal typing of the `ws` client (a dependency of @effect/platform-node) used by the stream test. */
declare module "ws" {
  export default class WebSocket {
    constructor(url: string)
    on(event: "message", listener: (data: unknown) => void): this
    on(event: "close", listener: () => void): this
    on(event: "error", listener: (error: Error) => void): this
    close(): void
  }
}
