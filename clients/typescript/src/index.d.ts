// Types of @grest-ws/client. Contract types come from the generator (`grest_ws::typegen`), which writes a
// `<Name>Methods` type map and a `<Name>Contract: ContractDescriptor<<Name>Methods, Query>` descriptor.

// ---- contract descriptors (generated) -------------------------------------------------------------------------

/** The data form of a payload shape, as the generator writes it; the client validates with it. */
export type Shape =
  | { kind: "any" }
  | { kind: "null" }
  | { kind: "boolean" }
  | { kind: "string" }
  | { kind: "number"; integer: boolean; min?: number; max?: number }
  | { kind: "literal"; values: readonly string[] }
  | { kind: "optional"; inner: Shape }
  | { kind: "array"; item: Shape }
  | { kind: "record"; item: Shape }
  | { kind: "object"; fields: readonly FieldShape[] }
  | { kind: "tuple"; items: readonly { shape: Shape; rules?: Rules }[] }
  | {
      kind: "union";
      tagging: "external" | "internal" | "adjacent" | "untagged";
      /** The discriminator field (internal and adjacent tagging). */
      tag?: string;
      /** The content field (adjacent tagging). */
      content?: string;
      /** The variants; a unit variant has no shape. */
      variants: readonly { name: string; shape?: Shape; rules?: Rules }[];
    }
  | { kind: "ref"; name: string };

/** A string format a field may declare; its issue code is `invalid.string.<format>`. */
export type StringFormat = "email" | "url" | "uuid" | "date" | "dateTime" | "ip" | "ipv4" | "ipv6";

/** The constraints declared on a field, tuple element or newtype variant. */
export interface Rules {
  nonEmpty?: boolean;
  minLength?: number;
  maxLength?: number;
  min?: number;
  max?: number;
  multipleOf?: number;
  /** A regular expression source, run as `new RegExp(pattern, "u")`. */
  pattern?: string;
  format?: StringFormat;
}

/** One field of an object shape, with its declared constraints. */
export interface FieldShape {
  name: string;
  shape: Shape;
  rules?: Rules;
  hasDefault?: boolean;
  /** `#[serde(flatten)]`: the shape's fields are read from the enclosing object. */
  flatten?: boolean;
}

/** An error type a method or the handshake declares. */
export interface ErrorDescriptor {
  type: string;
  statusCode: number;
}

/** One method of a descriptor. */
export interface MethodDescriptor {
  /** The wire path, `<Contract>.<method>`. */
  path: string;
  /** Request-response (`r`/`s`) or fire-and-forget (`m`). */
  request: boolean;
  input: Shape | null;
  success: Shape | null;
  errors: readonly ErrorDescriptor[];
}

/** The type-level description of one method (what the generated `<Name>Methods` map holds). */
export interface MethodTypes {
  request: boolean;
  input: unknown;
  success: unknown;
  errors: string;
}

/** The generated `<Name>Methods` type map. */
export interface MethodsMap {
  clientToServer: Record<string, MethodTypes>;
  serverToClient: Record<string, MethodTypes>;
}

/** A contract bound to its path, typed by its methods map `M` and handshake query `Q` (`void` when none). */
export interface ContractDescriptor<M extends MethodsMap = MethodsMap, Q = unknown> {
  name: string;
  path: string;
  connect: { query: Shape | null; errors: readonly ErrorDescriptor[] };
  clientToServer: { [K in keyof M["clientToServer"]]: MethodDescriptor };
  serverToClient: { [K in keyof M["serverToClient"]]: MethodDescriptor };
  shapes: Record<string, Shape>;
  /** Type-only: the query type. Never present at run time. */
  readonly __query?: Q;
}

/** A raw (byte-stream) endpoint: just a path and, optionally, its handshake query. */
export interface RawSocketDescriptor {
  path: string;
  connect?: { query?: Shape | null; errors?: readonly ErrorDescriptor[] };
  shapes?: Record<string, Shape>;
}

// ---- errors -----------------------------------------------------------------------------------------------------

/** One validation issue, as grest writes it. */
export interface ValidationIssue {
  path: string;
  code: string;
  message: string;
  params?: Record<string, unknown>;
  value?: unknown;
}

/** The public context every error carries. */
export interface ErrorContext {
  displayMessage?: string;
  timestamp: number;
  ref: string;
}

/** The data an error type carries: every issue for `VALIDATION_ERROR`, unknown otherwise. */
export type ErrorData<T extends string> = T extends "VALIDATION_ERROR" ? ValidationIssue[] : unknown;

/** A grest error: a failed call rejects with one. */
export class GrestError<T extends string = string> extends Error {
  constructor(
    type: T,
    options?: { statusCode?: number; data?: ErrorData<T>; displayMessage?: string; context?: Partial<ErrorContext> },
  );
  readonly success: false;
  type: T;
  statusCode: number;
  data: ErrorData<T>;
  context: ErrorContext;
  /** Set on the `SERVER_ERROR`s the client raises itself (no reply from the server came): why. */
  reason?: ClientFailure;
  /** The wire envelope `{success: false, type, data?, statusCode, context}`. */
  toJSON(): { success: false; type: T; data?: ErrorData<T>; statusCode: number; context: ErrorContext };
  /** The error an envelope describes, or `undefined` when it has no string `type`. */
  static fromJSON(value: unknown): GrestError | undefined;
}

/**
 * Why the client failed a call itself: no reply in time (`timeout`), its signal aborted it (`aborted`, the signal's
 * reason is the error's `cause`), the socket went away while it waited (`socket-closed`), or there was no socket:
 * `connect()` was never called or failed (`not-connected`), the first attempt is under way (`connecting`), the
 * client is reconnecting (`reconnecting`) or closed for good (`closed`).
 */
export type ClientFailure =
  | "timeout"
  | "aborted"
  | "socket-closed"
  | "not-connected"
  | "connecting"
  | "reconnecting"
  | "closed";

/** One error instance per possible type (a discriminated union on `type`). */
export type ErrorOf<E extends string> = E extends string ? GrestError<E> : never;

/** The standard error set: type → status code. */
export const SYSTEM_ERRORS: Readonly<Record<string, number>>;

/** What a call may fail with: its declared errors plus the always-representable ones. */
export type CallErrorTypes<M extends MethodTypes> = M["errors"] | "SERVER_ERROR" | "PAYLOAD_TOO_LARGE";

// ---- calls ------------------------------------------------------------------------------------------------------

/** A successful call as `asResult()` reports it. */
export interface OkResult<T> {
  success: true;
  type: "OK";
  data: T;
}

/** A call's promise: awaits the data or rejects with a `GrestError`. */
export class GrestPromise<T, E extends string = "SERVER_ERROR"> implements PromiseLike<T> {
  then<A = T, B = never>(
    onFulfilled?: ((value: T) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: ErrorOf<E>) => B | PromiseLike<B>) | null,
  ): Promise<A | B>;
  catch<B = never>(onRejected?: ((reason: ErrorOf<E>) => B | PromiseLike<B>) | null): Promise<T | B>;
  finally(onFinally?: (() => void) | null): Promise<T>;
  /** Never rejects: `{success: true, type: "OK", data}` or the error instance. */
  asResult(): Promise<OkResult<T> | ErrorOf<E>>;
  /** The data, or `fallback` when the call failed. */
  orDefault<D>(fallback: D): Promise<T | D>;
  /** A promise of `mapper(data)`; failures pass through. */
  map<U>(mapper: (value: T) => U): GrestPromise<U, E>;
}

/** Per-call options. */
export interface CallOptions {
  /** Request timeout in ms, overriding the client's `timeout` (`Infinity`: none). */
  timeout?: number;
  /** Aborts the call: it rejects with `SERVER_ERROR` "Request aborted" (`reason: "aborted"`); a late reply is ignored. */
  signal?: AbortSignal;
}

type InputArgs<M extends MethodTypes> = [M["input"]] extends [void]
  ? [options?: CallOptions]
  : [input: M["input"], options?: CallOptions];

/** One function per client → server method: `(input, options?)`, or `(options?)` for a method without input. */
export type Outgoing<M extends MethodsMap> = {
  [K in keyof M["clientToServer"]]: (
    ...args: InputArgs<M["clientToServer"][K]>
  ) => M["clientToServer"][K]["request"] extends true
    ? GrestPromise<M["clientToServer"][K]["success"], CallErrorTypes<M["clientToServer"][K]>>
    : GrestPromise<void, "SERVER_ERROR">;
};

/** A handler for one server → client method: requests return the success value (or throw a declared error). */
export type Handler<M extends MethodTypes> = (
  ...args: InputArgs<M>
) => M["request"] extends true ? M["success"] | Promise<M["success"]> : void | Promise<void>;

/** Partial handlers for server → client methods (`undefined` removes one). */
export type Handlers<M extends MethodsMap> = {
  [K in keyof M["serverToClient"]]?: Handler<M["serverToClient"][K]> | undefined;
};

export interface Incoming<M extends MethodsMap> {
  /** Registers (or replaces) handlers; an unhandled server request is answered `ROUTE_NOT_FOUND`. */
  on(handlers: Handlers<M>): void;
}

// ---- config -----------------------------------------------------------------------------------------------------

/** Liveness: an app-level ping every `intervalMs`; dead after `intervalMs + timeoutMs` without inbound traffic. */
export interface HeartbeatConfig {
  intervalMs?: number;
  timeoutMs?: number;
}

export interface ReconnectConfig {
  /** Delay before the first retry (500 ms). */
  initialDelayMs?: number;
  /** Cap (30 s). */
  maxDelayMs?: number;
  /** Growth per attempt (2). */
  multiplier?: number;
  /** Consecutive failed attempts allowed (unlimited). */
  maxAttempts?: number;
  /** The random fraction of each delay, 0..1 (0.5). */
  jitter?: number;
  /** Whether a failed attempt is retried; by default not after NOT_AUTHORIZED, FORBIDDEN or VALIDATION_ERROR. */
  shouldRetry?: (error: unknown) => boolean;
  /** The heartbeat (on by default while reconnect is on), or `false`. */
  heartbeat?: HeartbeatConfig | false;
}

/** What one connection attempt uses. */
export interface ConnectParams<Q> {
  /** `ws(s)://host:port` or `http(s)://…`; `""` or absent in a browser = this page's origin. */
  url?: string;
  query?: Q;
  /** Handshake headers (lower-case names), sent in the `h` frame. */
  headers?: Record<string, string>;
}

/** What the client needs of a WebSocket class: the browser's, undici's (Node 22) or `ws`'s. */
export type WebSocketConstructor = new (url: string) => {
  binaryType: string;
  readonly readyState: number;
  send(data: string | ArrayBuffer | ArrayBufferView | Blob): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: any) => void): void;
  removeEventListener(type: string, listener: (event: any) => void): void;
};

interface CommonConfig {
  /** `true` (default), `false`, or settings. */
  reconnect?: boolean | ReconnectConfig;
  /** How long to wait for `k`/`x` (5 s). */
  handshakeTimeoutMs?: number;
  /** The WebSocket class (defaults to `globalThis.WebSocket`; pass `ws`'s on Node 20). */
  WebSocket?: WebSocketConstructor;
}

/** Connection params come from static fields or from `beforeConnect` (run before every attempt), never both. */
export type ClientConfig<Q> = CommonConfig &
  (
    | (ConnectParams<Q> & { beforeConnect?: never })
    | { beforeConnect: () => ConnectParams<Q> | Promise<ConnectParams<Q>>; url?: never; query?: never; headers?: never }
  ) & {
    /** Request timeout (30 s). */
    timeout?: number;
  };

export type ConnectionState = "idle" | "connecting" | "connected" | "reconnecting" | "closed";
export type CloseReason = "manual" | "drop" | "retries-exhausted" | "unrecoverable";
export type DisconnectReason = "manual" | "drop";

/** What `onReconnecting` reports before every reconnect attempt. */
export interface ReconnectingEvent {
  /** 1 for the first attempt after a drop, then 2, 3, … */
  attempt: number;
  /** The (jittered) delay before this attempt starts. */
  delayMs: number;
  /** Why the previous attempt failed; `undefined` for the first attempt after a drop. */
  error: unknown;
}

/** What typed and raw clients share. */
export interface ConnectionLifecycle {
  readonly state: ConnectionState;
  readonly isConnected: boolean;
  /** The final close, once. Returns an unsubscribe function. */
  onClose(callback: (reason: CloseReason, error?: unknown) => void): () => void;
  /** Every drop or manual close, before any reconnect attempt. */
  onDisconnect(callback: (reason: DisconnectReason) => void): () => void;
  /** Socket errors (including a missed heartbeat) and failed reconnect attempts. */
  onError(callback: (error: unknown) => void): () => void;
  /** Every state change. */
  onStateChange(callback: (state: ConnectionState) => void): () => void;
  /** Before every reconnect attempt: its number, the delay before it and why the previous one failed. */
  onReconnecting(callback: (event: ReconnectingEvent) => void): () => void;
  /**
   * Resolves once connected: at once when the client is, otherwise at the next (re)connection. Rejects when the
   * client closes for good first.
   */
  connected(): Promise<void>;
  /** Drops the socket as if the network had, so the reconnect loop opens a new one. */
  forceReconnect(): void;
  /** Graceful: waits (up to 5 s) for pending requests, then closes. */
  disconnect(): Promise<void>;
  /** Immediate: pending requests fail with "Socket connection closed!". */
  close(): void;
}

/** What `connect(setup)` hands the setup callback after every (re)connection. */
export interface SetupContext<M extends MethodsMap> {
  incoming: Incoming<M>;
  outgoing: Outgoing<M>;
  isReconnect: boolean;
}

export interface GrestClient<M extends MethodsMap, Q> extends ConnectionLifecycle {
  readonly incoming: Incoming<M>;
  readonly outgoing: Outgoing<M>;
  /** Requests still waiting for a reply. */
  readonly pendingRequests: number;
  /**
   * Connects; `setup` re-runs after every reconnect, before any frame that follows the handshake is handled (pushes
   * sent right after `k` included): register handlers there. The first attempt is not retried: it rejects.
   */
  connect(setup?: (context: SetupContext<M>) => void | Promise<void>): Promise<void>;
}

/** Creates a typed client for a generated contract descriptor. */
export function createClient<M extends MethodsMap, Q>(
  contract: ContractDescriptor<M, Q>,
  config?: ClientConfig<Q>,
): GrestClient<M, Q>;

export type RawClientConfig = CommonConfig &
  (
    | (ConnectParams<Record<string, unknown>> & { beforeConnect?: never })
    | {
        beforeConnect: () => ConnectParams<Record<string, unknown>> | Promise<ConnectParams<Record<string, unknown>>>;
        url?: never;
        query?: never;
        headers?: never;
      }
  );

export interface RawClient extends ConnectionLifecycle {
  /** Resolves once the handshake passed; frames sent before are impossible (`send` throws). */
  connect(): Promise<void>;
  /** A string goes as a text frame, bytes as a binary frame. Throws when not connected. */
  send(data: string | ArrayBuffer | ArrayBufferView | Blob): void;
  /** Every inbound frame (keepalive sentinels excluded): text as a string, binary as bytes. Persists across reconnects. */
  onMessage(callback: (data: string | Uint8Array, isBinary: boolean) => void): () => void;
}

/** Creates a byte-stream client. */
export function createRawClient(socket: RawSocketDescriptor, config?: RawClientConfig): RawClient;

// ---- helpers ----------------------------------------------------------------------------------------------------

export const REQUEST_TIMEOUT_MS: number;
export const HANDSHAKE_TIMEOUT_MS: number;
export const RECONNECT_DEFAULTS: Readonly<Required<Omit<ReconnectConfig, "shouldRetry" | "heartbeat">>>;
export const HEARTBEAT_DEFAULTS: Readonly<Required<HeartbeatConfig>>;
/** The delay before reconnect attempt `attempt` (0, 1, …), jittered. */
export function backoffDelay(attempt: number, config?: ReconnectConfig, random?: () => number): number;
/** Whether a failed reconnect attempt is retried by default. */
export function defaultShouldRetry(error: unknown): boolean;
/** The socket URL for a base, path and query. */
export function buildUrl(base: string | undefined, path: string, query?: Record<string, unknown>): string;
/** Validates (and coerces) a value against a shape, listing every issue. */
export function validate(
  shape: Shape,
  value: unknown,
  shapes?: Record<string, Shape>,
): { value: unknown; issues: ValidationIssue[] };
export function encodeFrame(type: string, path?: string, id?: string | number, data?: unknown): string;
export function parseFrame(text: string): { type: string; path: string; id: string | undefined; data: unknown } | null;
export const PING_FRAME: "p:::";
export const PONG_FRAME: "o:::";
export const RAW_PING: string;
export const RAW_PONG: string;
