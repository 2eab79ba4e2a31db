/**
 * The one configuration schema of mumuka.
 *
 * Every key the gateway reads is declared here, with its default, so that the
 * embedded defaults (`mumuka serve` with no file) and a YAML file go through the
 * same validation. Modules receive their own slice (`Config["smtp"]`, …), never
 * the whole object.
 *
 * SECURITY: the file is operator input, not sender input; still, it is parsed
 * strictly (unknown keys are errors) so that a typo cannot silently weaken a
 * limit.
 */
import { z } from "zod";
import { DEFAULT_EXTRACT_LIMITS, EXTRACT_KINDS } from "../extract/extract-types.ts";

const port = z.number().int().min(0).max(65535);
const positiveInt = z.number().int().positive();
const tlsFiles = z.strictObject({
  cert: z.string().min(1).describe("PEM certificate file"),
  key: z.string().min(1).describe("PEM private key file"),
});

export const linkModes = ["keep", "defang", "remove"] as const;
export const languages = ["ja", "en"] as const;
export const outputCharsets = ["utf-8", "iso-2022-jp"] as const;
export const alternativeChoices = ["auto", "text", "html"] as const;

/** Resource bounds of the sanitizer; past any of them the output says what was cut. */
export const limitsSchema = z.strictObject({
  /** multipart / message/rfc822 nesting; real mail rarely exceeds 6 */
  maxDepth: positiveInt.default(20),
  /** MIME parts in one message, attachments included */
  maxParts: positiveInt.default(500),
  /** bytes of the header block of any one part */
  maxHeaderBytes: positiveInt.default(256 * 1024),
  /** characters of text kept in the output body */
  maxTextChars: positiveInt.default(2_000_000),
  /** bytes of one HTML part given to the converter */
  maxHtmlBytes: positiveInt.default(10 * 1024 * 1024),
  /** wall-clock budget of one sanitization, in milliseconds */
  maxTimeMs: positiveInt.default(30_000),
});

/** Budgets of text extraction from attachments (see src/extract/extract-types.ts for each). */
const d = DEFAULT_EXTRACT_LIMITS;
export const extractLimitsSchema = z.strictObject({
  maxPages: positiveInt.default(d.maxPages),
  maxSheets: positiveInt.default(d.maxSheets),
  maxCells: positiveInt.default(d.maxCells),
  maxCharsPerFile: positiveInt.default(d.maxCharsPerFile),
  maxCharsTotal: positiveInt.default(d.maxCharsTotal),
  maxInflatedBytes: positiveInt.default(d.maxInflatedBytes),
  maxXmlDepth: positiveInt.default(d.maxXmlDepth),
  maxTimeMsPerFile: positiveInt.default(d.maxTimeMsPerFile),
  maxTimeMsPerMessage: positiveInt.default(d.maxTimeMsPerMessage),
  maxMemoryMb: z.number().int().min(32).default(d.maxMemoryMb),
});

export const sanitizeSchema = z.strictObject({
  charset: z.enum(outputCharsets).default("utf-8"),
  links: z.enum(linkModes).default("defang"),
  language: z.enum(languages).default("ja"),
  /** a notice template file; see config/notice/ */
  noticeTemplate: z.string().optional(),
  alternative: z.enum(alternativeChoices).default("auto"),
  limits: limitsSchema.default(limitsSchema.parse({})),
  /** document kinds whose text is extracted into the body (src/extract/); [] turns extraction off */
  extractText: z.array(z.enum(EXTRACT_KINDS)).default([...EXTRACT_KINDS]),
  extractLimits: extractLimitsSchema.default(extractLimitsSchema.parse({})),
});

export const smtpSchema = z.strictObject({
  host: z.string().default("127.0.0.1"),
  port: port.default(2525),
  /** the name in the banner, EHLO reply and Received line; defaults to os.hostname() */
  hostname: z.string().optional(),
  /** CIDR networks allowed to connect (the Internet-zone MTA) */
  clients: z.array(z.string()).default(["127.0.0.0/8", "::1/128"]),
  /** domains mumuka accepts mail for; "*" accepts any (only sensible on loopback) */
  recipientDomains: z.array(z.string()).min(1).default(["*"]),
  maxMessageBytes: positiveInt.default(50 * 1024 * 1024),
  maxRecipients: positiveInt.default(100),
  maxConnections: positiveInt.default(100),
  /** idle socket timeout, milliseconds */
  socketTimeoutMs: positiveInt.default(60_000),
  tls: tlsFiles.optional(),
});

const hostPort = z.strictObject({ host: z.string().min(1), port: port.default(25) });

export const deliverySchema = z.strictObject({
  /** smtp: relay to the LGWAN-side server; directory: write .eml files */
  mode: z.enum(["smtp", "directory"]).default("directory"),
  host: z.string().default("127.0.0.1"),
  port: port.default(25),
  /** further hosts tried in order when the first is unreachable or tempfails */
  failover: z.array(hostPort).default([]),
  /** directory mode: where sanitized .eml files are written (default: <dataDir>/outbox) */
  directory: z.string().optional(),
  /** parallel delivery connections to the downstream server */
  concurrency: positiveInt.default(8),
  /** seconds before the first retry of a deferred message */
  retryFirstSeconds: positiveInt.default(15),
  /** cap of the exponential backoff, seconds */
  retryMaxSeconds: positiveInt.default(3600),
  /** after this many days in the queue a message bounces (or is held) */
  maxQueueDays: z.number().positive().default(5),
  /** where delivery status notifications go; absent: expired/failed messages are held */
  dsnRelay: hostPort.optional(),
  /** envelope and header sender of DSNs */
  dsnFrom: z.string().default("MAILER-DAEMON"),
  requireTls: z.boolean().default(false),
  connectTimeoutMs: positiveInt.default(30_000),
});

export const auditSchema = z.strictObject({
  /** postgres://… to share one log between gateways; absent: SQLite under dataDir */
  url: z.string().optional(),
  /** days of audit events kept; older ones are purged behind a checkpoint */
  retentionDays: positiveInt.default(365),
  /** the longest an event waits before its batch is written, milliseconds */
  flushMs: positiveInt.default(200),
  /** events written in one transaction at most; a full batch is written at once */
  batchSize: positiveInt.default(500),
  /** events held in memory while the store is failing; past this they go to <dataDir>/audit-spill/ (see docs/audit.md) */
  maxQueueEvents: positiveInt.default(100_000),
  /** table names are <prefix>_events and <prefix>_messages (lets several deployments share one database) */
  tablePrefix: z.string().regex(/^[a-z_][a-z0-9_]{0,40}$/, "a plain lower-case SQL name").default("audit"),
});

export const originalsSchema = z.strictObject({
  /** days the raw original of each message is kept; 0 keeps none */
  retentionDays: z.number().int().min(0).default(30),
  /** name of an environment variable holding a 32-byte key (hex or base64) to encrypt originals at rest */
  keyEnv: z.string().optional(),
});

export const rulesSchema = z.strictObject({
  /** the rules file; absent: no rules, the defaults of `sanitize` apply */
  file: z.string().optional(),
  /** reload when the file changes (SIGHUP always reloads) */
  watch: z.boolean().default(true),
});

export const adminSchema = z.strictObject({
  enabled: z.boolean().default(true),
  host: z.string().default("127.0.0.1"),
  port: port.default(8025),
  tls: tlsFiles.optional(),
  /** idle session lifetime, minutes */
  sessionMinutes: positiveInt.default(30),
  /** serve /metrics without login (Prometheus cannot log in); counts only, no message data. false: no /metrics */
  metrics: z.boolean().default(true),
});

export const logSchema = z.strictObject({
  level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** pretty: readable lines in a terminal; json: one JSON object a line */
  format: z.enum(["auto", "json", "pretty"]).default("auto"),
});

export const configSchema = z.strictObject({
  dataDir: z.string().default("./data"),
  smtp: smtpSchema.default(smtpSchema.parse({})),
  delivery: deliverySchema.default(deliverySchema.parse({})),
  sanitize: sanitizeSchema.default(sanitizeSchema.parse({})),
  audit: auditSchema.default(auditSchema.parse({})),
  originals: originalsSchema.default(originalsSchema.parse({})),
  rules: rulesSchema.default(rulesSchema.parse({})),
  admin: adminSchema.default(adminSchema.parse({})),
  log: logSchema.default(logSchema.parse({})),
});

export type Config = z.infer<typeof configSchema>;
export type SanitizeConfig = Config["sanitize"];
export type Limits = z.infer<typeof limitsSchema>;
export type LinkMode = (typeof linkModes)[number];
export type Language = (typeof languages)[number];
export type OutputCharset = (typeof outputCharsets)[number];
export type AlternativeChoice = (typeof alternativeChoices)[number];
