/**
 * The template language of header edits and redirect targets: `{name}` is a
 * variable, every other character (a lone brace too) is literal. Kept here so
 * the config schema can refuse an unknown variable at load, naming the field,
 * and src/policy/template.ts compiles the same grammar.
 */

/** Variables of header values (requestHeaders, responseHeaders) and redirect targets. */
export const HEADER_TEMPLATE_VARIABLES = ['client_ip', 'request_id', 'service', 'instance', 'host'] as const;
/** Redirect targets also take the parts of the request's URL. */
export const URL_TEMPLATE_VARIABLES = [...HEADER_TEMPLATE_VARIABLES, 'scheme', 'path', 'query', 'uri'] as const;
export type TemplateVariable = (typeof URL_TEMPLATE_VARIABLES)[number];

/** `{name}` with a lower-case name; a fresh RegExp per use (it is global, so stateful). */
export const templateVariablePattern = (): RegExp => /\{([a-z_]+)\}/g;

/** The first variable of `template` not in `allowed`, or undefined when every one is known. */
export function unknownTemplateVariable(template: string, allowed: readonly string[]): string | undefined {
  for (const match of template.matchAll(templateVariablePattern())) if (!allowed.includes(match[1]!)) return match[1];
  return undefined;
}

/** Whether `template` uses `{name}`. */
export function usesTemplateVariable(template: string, name: TemplateVariable): boolean {
  return template.includes(`{${name}}`);
}
