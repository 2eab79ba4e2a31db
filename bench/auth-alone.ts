/**
 * Sender verification alone, in this process, no gateway (`npm run bench -- --auth-alone`): the CPU
 * per message of src/authenticate's Authenticator.verify (mailauth's DKIM, SPF, DMARC; no ARC set) on
 * the --auth benchmark's signed message, with a warm DNS cache, 8 verifications at once as the
 * authentication thread runs them. Each verification gets its own copy of the bytes, as the thread
 * reads each message from the spool. What the gateway adds around it (the thread's round trip, two
 * shared cores) is `--auth compare`'s business; this is the figure to read when changing the
 * verification itself. A best case in one way: one sender, repeated, so the DNS cache, the parsed
 * key and the SPF result are found every time (a real mix parses keys and evaluates SPF more often).
 *
 *   node bench/run.ts --auth-alone [--size 2000] [--realistic] [--messages 3000]
 *
 * Prints CPU microseconds per message (user + system, process.cpuUsage: this thread and V8's
 * helpers), the median of three rounds of --messages each after 500 unmeasured. Every verdict must
 * be DKIM pass and DMARC pass, else the run fails. Loopback DNS only.
 */
import { mimeMessage } from "./compare-postfix.ts";
import { plainSignedBase, startAuthDns } from "./auth-message.ts";
import { arg } from "./proc.ts";
import { headerBlock } from "../src/authenticate/auth-stage.ts";
import { createAuthenticator } from "../src/authenticate/authenticator.ts";
import { createDnsResolver } from "../src/authenticate/dns-resolver.ts";
import { authenticationSchema } from "../src/config/schema.ts";

const AT_ONCE = 8;
const WARMUP = 500;

export async function authAloneBench(): Promise<void> {
  const size = Number(arg("size", "2000"));
  const realistic = process.argv.includes("--realistic");
  const messages = Number(arg("messages", "3000"));
  const base = realistic ? mimeMessage(Math.max(1, Math.round(size / 1024))).replaceAll("\n", "\r\n") : plainSignedBase(size);
  const { dns, message } = await startAuthDns(base, realistic ? "example.co.jp" : "example.com");
  try {
    const config = authenticationSchema.parse({ enabled: true, dns: { servers: [dns.address] } });
    const resolver = createDnsResolver(config.dns);
    const authenticator = createAuthenticator({ config, hostname: "mumuka.example", resolve: resolver.resolve, expiry: resolver.expiry });
    const bytes = Buffer.from(message);
    const header = headerBlock(bytes, true);
    const envelope = { mailFrom: "bench@example.com", clientAddress: "127.0.0.1", clientHelo: "localhost" };
    const verifyMany = async (n: number) => {
      let next = 0;
      const one = async () => {
        while (next++ < n) {
          const verdict = await authenticator.verify(envelope, () => Buffer.from(bytes), async () => header);
          if (verdict.dkim[0]?.result !== "pass" || verdict.dmarc.result !== "pass") throw new Error(`bench: the verification did not pass: ${JSON.stringify(verdict)}`);
        }
      };
      await Promise.all(Array.from({ length: AT_ONCE }, one));
    };
    await verifyMany(WARMUP);
    const rounds: number[] = [];
    for (let round = 0; round < 3; round++) {
      const before = process.cpuUsage();
      await verifyMany(messages);
      const used = process.cpuUsage(before);
      rounds.push((used.user + used.system) / messages);
    }
    const median = [...rounds].sort((a, b) => a - b)[1]!;
    const what = `${realistic ? "realistic MIME" : "single part"} ${bytes.length} bytes`;
    process.stdout.write(`${JSON.stringify({ authAlone: what, messages, rounds: rounds.map((r) => Math.round(r)), cpuMicrosecondsPerMessage: Math.round(median) })}\n`);
    process.stderr.write(`bench: verification alone, ${what}: ${Math.round(median)} µs of CPU per message (median of ${rounds.map((r) => Math.round(r)).join(", ")})\n`);
  } finally {
    await dns.close();
  }
}
