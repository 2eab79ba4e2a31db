/**
 * Writes a message with one large attachment to a file, for measuring the
 * sanitizer's peak memory (see docs/testing.md). Never commit the output.
 *
 *   node tests/helpers/make-big-message.ts /tmp/mumuka-50mb.eml 50
 *
 * Prints the SHA-256 of the decoded attachment, to compare with the report.
 */
import { createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { streamingAttachmentMessage } from "./mime-builders.ts";

const [file, megabytes = "50"] = process.argv.slice(2);
if (!file) {
  process.stderr.write("usage: node tests/helpers/make-big-message.ts OUT.eml [MEGABYTES]\n");
  process.exit(2);
}
const { stream, sha256 } = streamingAttachmentMessage(Number(megabytes) * 1024 * 1024, "big.bin");
await pipeline(stream, createWriteStream(file));
process.stdout.write(`${sha256}\n`);
