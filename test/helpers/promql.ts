/**
 * Just enough PromQL reading for tests that prove queries against a real Prometheus: the
 * vector selectors an expression reads, the labels its `by`/`on`/… clauses name, and its
 * "value parts" (an alert's expression without its threshold comparisons), so a query whose
 * condition is false can still be shown to read existing series. Not a full parser: it knows
 * strings, label-matcher braces, range brackets, parentheses, keywords and operators.
 */

interface Token {
  kind: 'ident' | 'braces' | 'range' | 'string' | 'number' | 'open' | 'close' | 'comma' | 'op';
  text: string;
  start: number;
  end: number;
}

const KEYWORDS = new Set([
  'sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group',
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'atan2', 'inf', 'nan',
]);
const LABEL_LIST_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const SET_OPERATORS = new Set(['and', 'or', 'unless']);
const COMPARISONS = new Set(['==', '!=', '>=', '<=', '>', '<']);

function tokenize(expr: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const push = (kind: Token['kind'], end: number) => {
    tokens.push({ kind, text: expr.slice(i, end), start: i, end });
    i = end;
  };
  while (i < expr.length) {
    const c = expr[i]!;
    if (/\s/.test(c)) i++;
    else if (c === '#') i = expr.indexOf('\n', i) === -1 ? expr.length : expr.indexOf('\n', i);
    else if (c === '"' || c === "'" || c === '`') push('string', skipString(expr, i));
    else if (c === '{') push('braces', closing(expr, i, '}'));
    else if (c === '[') push('range', closing(expr, i, ']'));
    else if (c === '(') push('open', i + 1);
    else if (c === ')') push('close', i + 1);
    else if (c === ',') push('comma', i + 1);
    else if (/[a-zA-Z_:]/.test(c)) push('ident', i + /^[a-zA-Z0-9_:]*/.exec(expr.slice(i))![0].length);
    else if (/[0-9.]/.test(c)) push('number', i + /^[0-9.eE+x]*[0-9a-zA-Z]*/.exec(expr.slice(i))![0].length);
    else push('op', i + /^(==|!=|>=|<=|=~|!~|[-+*/%^<>=])/.exec(expr.slice(i))![0].length);
  }
  return tokens;
}

function skipString(expr: string, at: number): number {
  const quote = expr[at];
  for (let i = at + 1; i < expr.length; i++) {
    if (expr[i] === '\\' && quote !== '`') i++;
    else if (expr[i] === quote) return i + 1;
  }
  throw new Error(`unterminated string in ${expr}`);
}

function closing(expr: string, at: number, close: string): number {
  for (let i = at + 1; i < expr.length; i++) {
    if (expr[i] === '"' || expr[i] === "'" || expr[i] === '`') i = skipString(expr, i) - 1;
    else if (expr[i] === close) return i + 1;
  }
  throw new Error(`no ${close} for the one at ${at} in ${expr}`);
}

/** Index of the `)` that closes the `(` at `open`. */
function matchingClose(tokens: Token[], open: number): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    if (tokens[i]!.kind === 'open') depth++;
    else if (tokens[i]!.kind === 'close' && --depth === 0) return i;
  }
  throw new Error('unbalanced parentheses');
}

/** Every vector selector, as `name{matchers}` without its range: `rate(x{a="b"}[5m])` → `x{a="b"}`. */
export function vectorSelectors(expr: string): string[] {
  const tokens = tokenize(expr);
  const selectors: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const next = tokens[i + 1];
    if (token.kind === 'ident' && LABEL_LIST_KEYWORDS.has(token.text)) {
      // A label list is not selectors (group_left may have none).
      if (next?.kind === 'open') i = matchingClose(tokens, i + 1);
    } else if (token.kind === 'ident' && !KEYWORDS.has(token.text) && next?.kind !== 'open') {
      selectors.push(next?.kind === 'braces' ? token.text + next.text : token.text);
      if (next?.kind === 'braces') i++;
    } else if (token.kind === 'braces') {
      selectors.push(token.text);
    }
  }
  return selectors;
}

/** The labels named in `by`, `without`, `on`, `ignoring`, `group_left` and `group_right` lists. */
export function groupingLabels(expr: string): string[] {
  const tokens = tokenize(expr);
  const labels = new Set<string>();
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i]!.kind !== 'ident' || !LABEL_LIST_KEYWORDS.has(tokens[i]!.text) || tokens[i + 1]?.kind !== 'open') continue;
    const end = matchingClose(tokens, i + 1);
    for (const t of tokens.slice(i + 2, end)) if (t.kind === 'ident') labels.add(t.text);
    i = end;
  }
  return [...labels];
}

/**
 * The expression with its threshold comparisons removed: operands of top-level `and`/`or`/
 * `unless` are taken one by one, each cut at its top-level comparison (its left side kept),
 * and an operand wrapped whole in parentheses is read inside. `a > 1 and on (x) b == 0`
 * → [`a`, `b`]. An expression without either is its own single value part.
 */
export function valueParts(expr: string): string[] {
  const tokens = tokenize(expr);
  const parts: string[] = [];
  let depth = 0;
  let from = 0;
  const take = (to: number) => {
    const operand = tokens.slice(from, to);
    if (operand.length > 0) parts.push(...operandValue(expr, operand));
  };
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind === 'open') depth++;
    else if (t.kind === 'close') depth--;
    else if (depth === 0 && t.kind === 'ident' && SET_OPERATORS.has(t.text)) {
      take(i);
      // `and on (labels)`: the modifier belongs to the operator, not to the right operand.
      let next = i + 1;
      if (['on', 'ignoring'].includes(tokens[next]?.text ?? '') && tokens[next + 1]?.kind === 'open') next = matchingClose(tokens, next + 1) + 1;
      from = next;
      i = next - 1;
    }
  }
  take(tokens.length);
  return parts;
}

function operandValue(expr: string, operand: Token[]): string[] {
  const first = operand[0]!;
  const last = operand[operand.length - 1]!;
  if (first.kind === 'open' && matchingClose(operand, 0) === operand.length - 1) return valueParts(expr.slice(first.end, last.start));
  let depth = 0;
  for (let i = 0; i < operand.length; i++) {
    const t = operand[i]!;
    if (t.kind === 'open') depth++;
    else if (t.kind === 'close') depth--;
    else if (depth === 0 && t.kind === 'op' && COMPARISONS.has(t.text)) return operandValue(expr, operand.slice(0, i));
  }
  return [expr.slice(first.start, last.end)];
}
