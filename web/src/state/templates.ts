// Response templates: the variables a body names, the values the screen knows for the
// built-ins, and the refusal of a template whose variables are not all filled.

const VARIABLE = /\{\{\s*([a-zA-Z0-9_]+)\s*\}\}/g;

export const BUILT_INS = ['customer_name', 'agent_name', 'company_name', 'date', 'time'] as const;

/** Variables in order of first use, each once. */
export function variablesOf(body: string): string[] {
  const seen: string[] = [];
  for (const m of body.matchAll(VARIABLE)) if (!seen.includes(m[1])) seen.push(m[1]);
  return seen;
}

export interface BuiltInContext {
  customerName: string;
  agentName: string;
  companyName: string;
  now: Date;
  timeZone?: string;
}

/** What the server would put for the built-ins (docs: `{{date}}` "6 December 2026", `{{time}}` "14:05"). */
export function builtInValues(ctx: BuiltInContext): Record<string, string> {
  const tz = ctx.timeZone || undefined;
  const date = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: tz }).format(ctx.now);
  const time = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', hour12: false, timeZone: tz }).format(ctx.now);
  return {
    customer_name: ctx.customerName.trim(),
    agent_name: ctx.agentName.trim(),
    company_name: ctx.companyName.trim(),
    date,
    time,
  };
}

/** Variables still without a (non-blank) value, in order of first use. */
export function missingVariables(body: string, values: Record<string, string>): string[] {
  return variablesOf(body).filter((v) => !(values[v] ?? '').trim());
}

export class UnfilledVariables extends Error {
  constructor(readonly variables: string[]) {
    super(`Fill in ${variables.map((v) => `{{${v}}}`).join(', ')} first.`);
  }
}

/** The text with every variable replaced; refuses (throws) when one has no value. */
export function fillTemplate(body: string, values: Record<string, string>): string {
  const missing = missingVariables(body, values);
  if (missing.length) throw new UnfilledVariables(missing);
  return body.replace(VARIABLE, (_, name: string) => values[name].trim());
}

/** The composer's text is a template search: `/` then the query. */
export function templateQuery(text: string): string | null {
  const m = /^\/(\S*)$/.exec(text);
  return m ? m[1] : null;
}

/**
 * A WhatsApp template message for an approved template of the same name: the variables, in
 * order of first use, as the body's positional parameters ({{1}}, {{2}}...).
 */
export function whatsappTemplatePayload(name: string, language: string, body: string, values: Record<string, string>) {
  const missing = missingVariables(body, values);
  if (missing.length) throw new UnfilledVariables(missing);
  const parameters = variablesOf(body).map((v) => ({ type: 'text', text: values[v].trim() }));
  return {
    name: name.replace(/-/g, '_'),
    language,
    components: parameters.length ? [{ type: 'body', parameters }] : [],
  };
}
