// Compile-time checks (`npm run typecheck`): enums, tuples and flattened structs generated from Rust
// (tests/tests/validation.rs) are the TypeScript types of their wire forms, and the descriptor fits the client.

import { createClient } from "@grest-ws/client";
import { ShapesContract, type Command, type Envelope, type Figure, type Loose, type Search } from "../shared/shapes-contract.js";

const client = createClient(ShapesContract, { url: "ws://127.0.0.1:3000" });

export const figures: Figure[] = [{ type: "circle", radius: 1 }, { type: "square", side: 2 }, { type: "empty" }];
// @ts-expect-error: a circle has a radius
export const noRadius: Figure = { type: "circle" };
// @ts-expect-error: no such variant
export const hexagon: Figure = { type: "hexagon" };

export const commands: Command[] = ["stop", { say: "hi" }, { move_to: { x: 1, y: 2 } }, { point: [1, 2] }];
// @ts-expect-error: a point is a pair
export const shortPoint: Command = { point: [1] };

export const envelopes: Envelope[] = [{ t: "Ping" }, { t: "Text", c: "abc" }, { t: "Pair", c: ["a", 1] }];
export const loose: Loose[] = [1, { label: "a" }, null];

// The flattened page's field is the search's own.
export const search: Search = { query: "abc", page: 1, span: [0, 1], pair: ["x", true] };
// @ts-expect-error: the flattened field is required
export const noPage: Search = { query: "abc" };

export async function calls(): Promise<boolean> {
  return client.outgoing.figure({ type: "square", side: 3 });
}
