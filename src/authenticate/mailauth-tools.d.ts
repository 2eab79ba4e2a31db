/** The one internal helper of mailauth used here (lib/tools.js, CommonJS, no types of its own). */
declare module "mailauth/lib/tools.js" {
  const tools: {
    /** the entry of `domains` aligned with `fromDomain` (relaxed: same organizational domain), or false */
    getAlignment(fromDomain: string, domains: string[], strict: boolean): { domain: string } | false;
  };
  export default tools;
}

declare module "mailauth/lib/parse-received.js" {
  interface ReceivedClause {
    value?: string;
    comment?: string;
  }
  const received: {
    parseReceived(field: string): ({ from?: ReceivedClause; by?: ReceivedClause } & Record<string, ReceivedClause | undefined>) | false;
    /** the address of the TCP-info comment of the from clause, or false */
    getClientAddress(from: ReceivedClause | undefined): string | false;
  };
  export default received;
}
