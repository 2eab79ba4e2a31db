/**
 * A stand-in extraction worker for the runner's out-of-memory test: on any job
 * it allocates until its heap limit kills it (what a document that defeats
 * every bound would do). Never answers.
 */
import { parentPort } from "node:worker_threads";

parentPort!.on("message", () => {
  const hoard: string[][] = [];
  for (;;) hoard.push(Array.from({ length: 100_000 }, (_, i) => `${i}-${hoard.length}`));
});
