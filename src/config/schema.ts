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
import { isIPv4, isIPv6 } from "node:net";
import { z } from "zod";
import { DEFAULT_EXTRACT_LIMITS, EXTRACT_KINDS } from "../extract/extract-types.ts";

const port = z.number().int().min(0).max(65535);
const positiveInt = z.number().int().positive();
/** an IP network, "192.0.2.0/24" or a single address; checked here so a typo fails `config check`, not the receiver */
const cidr = z.string().refine((entry) => {
  const [net, bits, extra] = entry.split("/");
  const max = net && isIPv4(net) ? 32 : net && isIPv6(net) ? 128 : 0;
  if (!max || extra !== undefined) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= max);
}, "an IP network: address or address/prefix");
const tlsFiles = z.strictObject({
  cert: z.string().min(1).describe("PEM certificate file"),
  key: z.string().min(1).describe("PEM private key file"),
});

/** routing characters an operator may allow in recipient local parts (see receive/envelope-address.ts) */
export const allowableLocalPartCharacters = ["%", "!"] as const;
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
  clients: z.array(cidr).default(["127.0.0.0/8", "::1/128"]),
  /** domains mumuka accepts mail for; "*" accepts any (only sensible on loopback) */
  recipientDomains: z.array(z.string()).min(1).default(["*"]),
  maxMessageBytes: positiveInt.default(50 * 1024 * 1024),
  maxRecipients: positiveInt.default(100),
  maxConnections: positiveInt.default(100),
  /** connections from one client address at once (Postfix's smtpd_client_connection_count_limit); reservedClients are exempt */
  maxConnectionsPerClient: positiveInt.default(50),
  /** CIDR networks of the upstream MTA(s): they may use the reserved slots and are exempt from maxConnectionsPerClient */
  reservedClients: z.array(cidr).default([]),
  /** of maxConnections, slots only reservedClients may take (no effect while reservedClients is empty) */
  reservedConnections: z.number().int().min(0).default(10),
  /** idle socket timeout, milliseconds: reset by every byte the client sends */
  socketTimeoutMs: positiveInt.default(60_000),
  /** a session must complete a message within this many ms of its greeting or of its previous message */
  transactionTimeoutMs: positiveInt.default(600_000),
  /** message data slower than this over a socketTimeoutMs window is cut with 421; 0: no floor */
  minDataBytesPerSecond: z.number().int().min(0).default(1024),
  /** routing characters allowed in recipient local parts (refused by default: percent hack, bang path) */
  allowLocalPartCharacters: z.array(z.enum(allowableLocalPartCharacters)).default([]),
  /** where "RCPT TO:<postmaster>" goes; default postmaster@<first recipientDomains entry> (or @hostname with "*" only) */
  postmaster: z
    .string()
    .regex(/^[^\s@%!"<>]+@[^\s@%!"<>]+$/, "a plain address local@domain (no routing characters)")
    .optional(),
  /**
   * ask the LGWAN-side server (delivery.host, then failover) whether each recipient exists before
   * answering RCPT: unknown ones get 550 in the dialogue instead of a bounce later, and the
   * Internet-side MTA's address-verification probes get its answer. Needs SMTP delivery.
   */
  verifyRecipients: z
    .strictObject({
      enabled: z.boolean().default(false),
      /** seconds an address the server accepted is remembered */
      cacheSeconds: positiveInt.default(3600),
      /** seconds an address the server refused is remembered */
      unknownCacheSeconds: positiveInt.default(600),
      /** one probe session at most, milliseconds; past it the RCPT gets 450 (try later) */
      timeoutMs: positiveInt.default(10_000),
    })
    .default({ enabled: false, cacheSeconds: 3600, unknownCacheSeconds: 600, timeoutMs: 10_000 }),
  tls: tlsFiles.optional(),
  /**
   * CIDR networks whose XFORWARD/XCLIENT (the original client, for sender authentication) is believed.
   * Empty by default, as Postfix's smtpd_authorized_xforward_hosts: naming the client SPF is checked
   * against is a door, opened only to the Internet-zone MTA the operator lists.
   */
  forwarders: z.array(cidr).default([]),
  // only with reservedClients: a small maxConnections without them must keep working
}).refine((s) => s.reservedClients.length === 0 || s.reservedConnections < s.maxConnections, {
  message: "smtp.reservedConnections must be smaller than smtp.maxConnections",
  path: ["reservedConnections"],
});

const hostPort = z.strictObject({ host: z.string().min(1), port: port.default(25) });

/**
 * `delivery`: what the file says is what happens. `host` is the SMTP destination, so a
 * `host` without `mode` means SMTP delivery (the relay's documented contract is "delivery.host
 * and delivery.port"); no `host` and no `mode` is directory mode into <dataDir>/outbox (the
 * embedded defaults). A `host` beside `mode: directory`, or beside `directory` without a mode,
 * contradicts itself and is refused, naming both keys.
 */
const deliveryFields = z.strictObject({
  /** smtp: relay to the LGWAN-side server; directory: write .eml files. Absent: smtp when host is given, else directory */
  mode: z.enum(["smtp", "directory"]).optional(),
  /** the downstream SMTP server; absent in smtp mode: 127.0.0.1 */
  host: z.string().min(1).optional(),
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

export const deliverySchema = deliveryFields
  // runs beside the other issues of the section (when: always), so one check reports them all
  .check(z.superRefine((raw: unknown, ctx) => {
    if (!raw || typeof raw !== "object") return;
    const d = raw as { mode?: unknown; host?: unknown; directory?: unknown };
    if (d.mode === "directory" && d.host !== undefined) {
      ctx.addIssue({ code: "custom", path: ["host"], message: "is an SMTP destination, but delivery.mode is directory: remove one of them" });
    } else if (d.mode === undefined && d.host !== undefined && d.directory !== undefined) {
      ctx.addIssue({ code: "custom", path: ["mode"], message: "missing, and both delivery.host (SMTP) and delivery.directory are set: say which one is meant" });
    }
  }, { when: () => true }))
  .transform((d) => ({ ...d, mode: d.mode ?? (d.host !== undefined ? ("smtp" as const) : ("directory" as const)), host: d.host ?? "127.0.0.1" }));

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
  /** table names are <prefix>_events, <prefix>_messages and <prefix>_texts (lets several deployments share one database) */
  tablePrefix: z.string().regex(/^[a-z_][a-z0-9_]{0,40}$/, "a plain lower-case SQL name").default("audit"),
  /** keep the text staff received (the console's message detail); false: only its SHA-256 is recorded */
  keepText: z.boolean().default(true),
  /** days the text staff received is kept; its SHA-256 stays in the chain for retentionDays */
  textRetentionDays: positiveInt.default(90),
  /** the chain's head written outside the store (see docs/audit.md, "Anchors") */
  anchor: z
    .strictObject({
      /** minutes between anchors (one is also written at shutdown); an unchanged head is not anchored again */
      intervalMinutes: positiveInt.default(60),
      /** a file each anchor line is appended to (fsynced); belongs on storage the database's administrators cannot edit */
      file: z.string().optional(),
      /** a syslog server (RFC 5424 over UDP) each anchor is sent to, e.g. the central log host */
      syslog: z
        .strictObject({
          host: z.string().default("127.0.0.1"),
          port: z.number().int().min(1).max(65535).default(514),
          /** local0 … local7, or auth, authpriv, daemon, user */
          facility: z.enum(["user", "daemon", "auth", "authpriv", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"]).default("local0"),
        })
        .optional(),
    })
    .default({ intervalMinutes: 60 }),
});

export const originalsSchema = z.strictObject({
  /** days the raw original of each message is kept; 0 keeps none */
  retentionDays: z.number().int().min(0).default(30),
  /** name of an environment variable holding a 32-byte key (hex or base64) to encrypt originals at rest */
  keyEnv: z.string().optional(),
  /** taking an original out is a request another administrator approves (see docs/audit.md, "Release of an original") */
  release: z
    .strictObject({
      /** 2: a different administrator must approve; 1: single-person mode, the request approves itself (only when set explicitly) */
      approvals: z.union([z.literal(1), z.literal(2)]).default(2),
      /** hours an approved request can be used, counted from the approval */
      windowHours: z.number().positive().max(24 * 30).default(24),
      /** downloads one approved request allows */
      downloads: z.number().int().min(1).max(10).default(1),
      /** days a request waits for a decision; after that it expires (recorded) and must be made again */
      openDays: z.number().positive().max(365).default(7),
    })
    .default({ approvals: 2, windowHours: 24, downloads: 1, openDays: 7 }),
});

const syslogTarget = z.strictObject({
  host: z.string().default("127.0.0.1"),
  port: z.number().int().min(1).max(65535).default(514),
  /** local0 … local7, or auth, authpriv, daemon, user */
  facility: z.enum(["user", "daemon", "auth", "authpriv", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"]).default("local0"),
});

/** Alerts to the people running the gateway: mail through delivery.dsnRelay and/or syslog (see docs/relay.md, "Alerts"). */
export const alertsSchema = z.strictObject({
  /** addresses alert mail goes to (through delivery.dsnRelay); empty: no alert mail */
  to: z.array(z.string().regex(/^[^\s@<>"]+@[^\s@<>"]+$/, "a plain address local@domain")).default([]),
  /** header sender of alert mail (the envelope sender is <>, as for DSNs); a bare local part gets @<smtp.hostname> */
  from: z.string().regex(/^[^\s@<>"]+(?:@[^\s@<>"]+)?$/, "a local part or a plain address local@domain").default("mumuka-alerts"),
  /** RFC 5424 over UDP: ids and conditions only, never mail content */
  syslog: syslogTarget.optional(),
  /** one message per condition per this many minutes; a condition still present is reminded of at this pace */
  intervalMinutes: positiveInt.default(60),
  /** seconds between checks of the queue, the downstream server and the audit store */
  checkSeconds: positiveInt.default(60),
  /** the oldest message waiting (deferred) longer than this many minutes is a condition */
  queueAgeMinutes: positiveInt.default(60),
  /** more messages waiting (incoming + active + deferred + held) than this is a condition */
  queueDepth: positiveInt.default(500),
  /** the downstream server unreachable for this many minutes is a condition */
  downstreamMinutes: positiveInt.default(10),
  /** the audit store not taking events for this many seconds is a condition */
  auditStallSeconds: positiveInt.default(120),
  /** minutes between chain verifications by the gateway (a failure is a condition); 0: never */
  verifyMinutes: z.number().int().min(0).default(60),
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

const dmarcAction = z.enum(["hold", "deliver"]);

/** Sender authentication (SPF, DKIM, DMARC, ARC) of the original, before sanitizing: see docs/authentication.md */
export const authenticationSchema = z.strictObject({
  /** off by default: verification needs DNS, which a first run or a closed network may not have */
  enabled: z.boolean().default(false),
  /** the authserv-id of mumuka's Authentication-Results (RFC 8601); default: smtp.hostname */
  authservId: z.string().regex(/^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/, "a host name").optional(),
  dns: z
    .strictObject({
      /** resolvers ("ip" or "ip:port"); empty: the system's (/etc/resolv.conf) */
      servers: z.array(z.string().min(1)).default([]),
      /** one query attempt, milliseconds */
      timeoutMs: positiveInt.default(2_000),
      tries: positiveInt.max(5).default(2),
      /** answers are kept this long at most (their own TTL when shorter, for A/AAAA) */
      cacheSeconds: positiveInt.default(300),
      /** "no such name" / "no data" answers are kept this long */
      negativeSeconds: positiveInt.default(60),
      cacheEntries: positiveInt.default(10_000),
    })
    .default({ servers: [], timeoutMs: 2_000, tries: 2, cacheSeconds: 300, negativeSeconds: 60, cacheEntries: 10_000 }),
  /** the whole verification of one message, milliseconds; past it the verdict is temperror (never a pass) */
  timeoutMs: positiveInt.default(15_000),
  /** RFC 7208 4.6.4: DNS-querying SPF terms, and lookups returning nothing */
  maxSpfLookups: positiveInt.max(10).default(10),
  maxVoidLookups: positiveInt.max(10).default(2),
  /** host names whose topmost Received line is believed for the client address when no XFORWARD/XCLIENT came (the Internet-zone MTA) */
  trustedReceivedBy: z.array(z.string().min(1)).default([]),
  /** what a DMARC failure under the sender domain's p=reject / p=quarantine does (a rule may still hold or reject) */
  dmarcReject: dmarcAction.default("hold"),
  dmarcQuarantine: dmarcAction.default("hold"),
});

export const logSchema = z.strictObject({
  level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** pretty: readable lines in a terminal; json: one JSON object a line */
  format: z.enum(["auto", "json", "pretty"]).default("auto"),
  /** put message subjects in the operational log (never body text); absent or false: subjects stay in the audit store */
  subjects: z.boolean().optional(),
});

const configFields = z.strictObject({
  dataDir: z.string().default("./data"),
  smtp: smtpSchema.default(smtpSchema.parse({})),
  delivery: deliverySchema.default(deliverySchema.parse({})),
  sanitize: sanitizeSchema.default(sanitizeSchema.parse({})),
  audit: auditSchema.default(auditSchema.parse({})),
  originals: originalsSchema.default(originalsSchema.parse({})),
  alerts: alertsSchema.default(alertsSchema.parse({})),
  rules: rulesSchema.default(rulesSchema.parse({})),
  admin: adminSchema.default(adminSchema.parse({})),
  authentication: authenticationSchema.default(authenticationSchema.parse({})),
  log: logSchema.default(logSchema.parse({})),
});

export const configSchema = configFields.check(z.superRefine(crossSectionChecks, { when: () => true }));

/**
 * Checks between sections, on the raw input (they run beside the per-key issues, so every
 * error is reported at once; a key of the wrong type is simply not compared here).
 */
function crossSectionChecks(raw: unknown, ctx: { addIssue(issue: { code: "custom"; path: PropertyKey[]; message: string }): void }): void {
  if (!raw || typeof raw !== "object") return;
  const c = raw as { smtp?: { host?: unknown; port?: unknown }; admin?: { enabled?: unknown; host?: unknown; port?: unknown } };
  const smtpHost = typeof c.smtp?.host === "string" ? c.smtp.host : "127.0.0.1";
  const smtpPort = typeof c.smtp?.port === "number" ? c.smtp.port : 2525;
  const adminHost = typeof c.admin?.host === "string" ? c.admin.host : "127.0.0.1";
  const adminPort = typeof c.admin?.port === "number" ? c.admin.port : 8025;
  const wildcard = (h: string) => h === "0.0.0.0" || h === "::" || h === "";
  const d = (raw as { delivery?: { mode?: unknown; host?: unknown } }).delivery;
  const smtpDelivery = d?.mode === "smtp" || (d?.mode === undefined && typeof d?.host === "string");
  const verify = (c.smtp as { verifyRecipients?: { enabled?: unknown } } | undefined)?.verifyRecipients;
  if (verify?.enabled === true && !smtpDelivery) {
    ctx.addIssue({ code: "custom", path: ["smtp", "verifyRecipients", "enabled"], message: "asks the LGWAN-side server, but delivery is not SMTP: set delivery.host (or turn it off)" });
  }
  const alerts = (raw as { alerts?: { to?: unknown } }).alerts;
  const relay = (raw as { delivery?: { dsnRelay?: unknown } }).delivery?.dsnRelay;
  if (Array.isArray(alerts?.to) && alerts.to.length > 0 && relay === undefined) {
    ctx.addIssue({ code: "custom", path: ["alerts", "to"], message: "alert mail goes through delivery.dsnRelay, which is not set: set it (or leave alerts.to empty)" });
  }
  if (c.admin?.enabled !== false && adminPort !== 0 && adminPort === smtpPort && (adminHost === smtpHost || wildcard(adminHost) || wildcard(smtpHost))) {
    ctx.addIssue({ code: "custom", path: ["admin", "port"], message: `the admin console and SMTP would both listen on port ${adminPort}` });
  }
}

export type Config = z.infer<typeof configSchema>;
export type SanitizeConfig = Config["sanitize"];
export type AuthenticationConfig = Config["authentication"];
export type Limits = z.infer<typeof limitsSchema>;
export type LinkMode = (typeof linkModes)[number];
export type Language = (typeof languages)[number];
export type OutputCharset = (typeof outputCharsets)[number];
export type AlternativeChoice = (typeof alternativeChoices)[number];
