import { GraphError } from './graph-error.js';

/**
 * The OData query options Graph's Outlook collections accept (docs/graph.md §3.1): `$filter` (eq ne gt ge lt le,
 * and/or/not, parentheses, contains/startswith/endswith, `any` lambdas over collections), `$orderby`, `$select`,
 * `$top` (default 10, at most 1000), `$skip`, `$count`, with the InefficientFilter rule: properties in `$orderby`
 * must come first in `$filter`, in the same order.
 */

export type Literal =
  | { type: 'string'; value: string }
  | { type: 'number'; value: number }
  | { type: 'boolean'; value: boolean }
  | { type: 'null'; value: null }
  | { type: 'datetime'; value: number };

export type Operand =
  | { kind: 'path'; path: string[] }
  | { kind: 'literal'; literal: Literal }
  | { kind: 'lambda'; expr: FilterExpr };

export type FilterExpr =
  | { kind: 'and' | 'or'; left: FilterExpr; right: FilterExpr }
  | { kind: 'not'; expr: FilterExpr }
  | { kind: 'compare'; op: 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le'; left: Operand; right: Operand }
  | { kind: 'function'; name: 'contains' | 'startswith' | 'endswith'; target: Operand; value: Operand }
  | { kind: 'any'; path: string[]; variable: string; body: FilterExpr | null };

/** What a collection's items look like to OData: names, nesting, and how to read a value. */
export interface ODataSchema<T> {
  typeName: string;
  /** Canonical name of a top-level property, by lower-case name. */
  properties: Map<string, string>;
  /** Validates and canonicalises a property path (throws for unknown names). */
  canonicalPath(path: string[]): string[];
  /** The value at a canonical path: strings, numbers (dates as epoch ms), booleans, null, or arrays for `any`. */
  valueAt(item: T, path: string[]): unknown;
}

export function unknownQueryProperty(name: string, typeName: string): GraphError {
  return new GraphError(400, 'BadRequest', `Could not find a property named '${name}' on type '${typeName}'.`);
}

// ---------------------------------------------------------------------------------------------------------------
// Tokens

type Token =
  | { t: 'ident'; v: string; pos: number }
  | { t: 'string'; v: string; pos: number }
  | { t: 'number'; v: number; pos: number }
  | { t: 'datetime'; v: number; pos: number }
  | { t: 'punct'; v: '(' | ')' | ',' | '/' | ':'; pos: number };

function syntaxError(filter: string, pos: number): GraphError {
  return new GraphError(400, 'BadRequest', `Invalid filter clause: Syntax error at position ${pos} in '${filter}'.`);
}

const DATETIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:\d{2})?)?/;

function tokenize(filter: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < filter.length) {
    const c = filter[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === '(' || c === ')' || c === ',' || c === '/' || c === ':') {
      tokens.push({ t: 'punct', v: c, pos: i });
      i++;
      continue;
    }
    if (c === "'") {
      let value = '';
      let j = i + 1;
      for (;;) {
        if (j >= filter.length) throw syntaxError(filter, i);
        if (filter[j] === "'") {
          if (filter[j + 1] === "'") {
            value += "'";
            j += 2;
            continue;
          }
          break;
        }
        value += filter[j];
        j++;
      }
      tokens.push({ t: 'string', v: value, pos: i });
      i = j + 1;
      continue;
    }
    const rest = filter.slice(i);
    const datetime = DATETIME.exec(rest);
    if (datetime && datetime[0].length >= 10) {
      let text = datetime[0];
      if (text.length === 10) text += 'T00:00:00Z';
      else if (!/(Z|[+-]\d{2}:\d{2})$/.test(text)) text += 'Z';
      const value = Date.parse(text);
      if (Number.isNaN(value)) throw syntaxError(filter, i);
      tokens.push({ t: 'datetime', v: value, pos: i });
      i += datetime[0].length;
      continue;
    }
    const number = /^-?\d+(\.\d+)?/.exec(rest);
    if (number) {
      tokens.push({ t: 'number', v: Number(number[0]), pos: i });
      i += number[0].length;
      continue;
    }
    const ident = /^[A-Za-z_@][A-Za-z0-9_.@]*/.exec(rest);
    if (ident) {
      tokens.push({ t: 'ident', v: ident[0], pos: i });
      i += ident[0].length;
      continue;
    }
    throw syntaxError(filter, i);
  }
  return tokens;
}

// ---------------------------------------------------------------------------------------------------------------
// Parser

const COMPARISONS = new Set(['eq', 'ne', 'gt', 'ge', 'lt', 'le']);
const FUNCTIONS = new Set(['contains', 'startswith', 'endswith']);

class FilterParser<T> {
  #tokens: Token[];
  #at = 0;
  #variables: string[] = [];
  /** Property paths in order of first appearance (for InefficientFilter). */
  readonly properties: string[] = [];

  constructor(
    readonly filter: string,
    readonly schema: ODataSchema<T>,
  ) {
    this.#tokens = tokenize(filter);
  }

  parse(): FilterExpr {
    if (this.#tokens.length === 0) throw syntaxError(this.filter, 0);
    const expr = this.#or();
    const extra = this.#tokens[this.#at];
    if (extra) throw syntaxError(this.filter, extra.pos);
    return expr;
  }

  #peek(): Token | undefined {
    return this.#tokens[this.#at];
  }

  #keyword(word: string): boolean {
    const token = this.#peek();
    if (token?.t === 'ident' && token.v.toLowerCase() === word) {
      this.#at++;
      return true;
    }
    return false;
  }

  #punct(value: '(' | ')' | ',' | '/' | ':'): boolean {
    const token = this.#peek();
    if (token?.t === 'punct' && token.v === value) {
      this.#at++;
      return true;
    }
    return false;
  }

  #expectPunct(value: '(' | ')' | ',' | '/' | ':'): void {
    if (!this.#punct(value)) throw syntaxError(this.filter, this.#peek()?.pos ?? this.filter.length);
  }

  #or(): FilterExpr {
    let left = this.#and();
    while (this.#keyword('or')) left = { kind: 'or', left, right: this.#and() };
    return left;
  }

  #and(): FilterExpr {
    let left = this.#unary();
    while (this.#keyword('and')) left = { kind: 'and', left, right: this.#unary() };
    return left;
  }

  #unary(): FilterExpr {
    if (this.#keyword('not')) return { kind: 'not', expr: this.#unary() };
    return this.#primary();
  }

  #primary(): FilterExpr {
    const token = this.#peek();
    if (!token) throw syntaxError(this.filter, this.filter.length);
    if (token.t === 'punct' && token.v === '(') {
      this.#at++;
      const inner = this.#or();
      this.#expectPunct(')');
      return this.#maybeBooleanComparison(inner);
    }
    const next = this.#tokens[this.#at + 1];
    if (token.t === 'ident' && FUNCTIONS.has(token.v.toLowerCase()) && next?.t === 'punct' && next.v === '(') {
      this.#at += 2;
      const target = this.#operand();
      this.#expectPunct(',');
      const value = this.#operand();
      this.#expectPunct(')');
      const expr: FilterExpr = {
        kind: 'function',
        name: token.v.toLowerCase() as 'contains' | 'startswith' | 'endswith',
        target,
        value,
      };
      return this.#maybeBooleanComparison(expr);
    }
    const left = this.#operand();
    if (left.kind === 'lambda') return this.#maybeBooleanComparison(left.expr);
    const opToken = this.#peek();
    if (opToken?.t !== 'ident' || !COMPARISONS.has(opToken.v.toLowerCase())) {
      throw syntaxError(this.filter, opToken?.pos ?? this.filter.length);
    }
    this.#at++;
    const right = this.#operand();
    return { kind: 'compare', op: opToken.v.toLowerCase() as 'eq', left, right };
  }

  /** `contains(subject,'x') eq true` and `(…) eq false` are accepted forms. */
  #maybeBooleanComparison(expr: FilterExpr): FilterExpr {
    const token = this.#peek();
    if (token?.t === 'ident' && (token.v.toLowerCase() === 'eq' || token.v.toLowerCase() === 'ne')) {
      const value = this.#tokens[this.#at + 1];
      if (value?.t === 'ident' && (value.v.toLowerCase() === 'true' || value.v.toLowerCase() === 'false')) {
        this.#at += 2;
        const wanted = (value.v.toLowerCase() === 'true') === (token.v.toLowerCase() === 'eq');
        return wanted ? expr : { kind: 'not', expr };
      }
    }
    return expr;
  }

  #operand(): Operand {
    const token = this.#peek();
    if (!token) throw syntaxError(this.filter, this.filter.length);
    this.#at++;
    switch (token.t) {
      case 'string':
        return { kind: 'literal', literal: { type: 'string', value: token.v } };
      case 'number':
        return { kind: 'literal', literal: { type: 'number', value: token.v } };
      case 'datetime':
        return { kind: 'literal', literal: { type: 'datetime', value: token.v } };
      case 'punct':
        throw syntaxError(this.filter, token.pos);
      case 'ident': {
        const lower = token.v.toLowerCase();
        if (lower === 'true' || lower === 'false') {
          return { kind: 'literal', literal: { type: 'boolean', value: lower === 'true' } };
        }
        if (lower === 'null') return { kind: 'literal', literal: { type: 'null', value: null } };
        const path = [token.v];
        while (this.#punct('/')) {
          const segment = this.#peek();
          if (segment?.t !== 'ident') throw syntaxError(this.filter, segment?.pos ?? this.filter.length);
          this.#at++;
          if (segment.v.toLowerCase() === 'any' && this.#peek()?.t === 'punct') {
            return this.#any(path);
          }
          path.push(segment.v);
        }
        return { kind: 'path', path: this.#resolvePath(path) };
      }
    }
  }

  #any(collection: string[]): Operand {
    const canonical = this.#resolvePath(collection);
    this.#expectPunct('(');
    let body: FilterExpr | null = null;
    let variable = '';
    if (!this.#punct(')')) {
      const name = this.#peek();
      if (name?.t !== 'ident') throw syntaxError(this.filter, name?.pos ?? this.filter.length);
      this.#at++;
      variable = name.v;
      this.#expectPunct(':');
      this.#variables.push(variable);
      body = this.#or();
      this.#variables.pop();
      this.#expectPunct(')');
    }
    return { kind: 'lambda', expr: { kind: 'any', path: canonical, variable, body } };
  }

  #resolvePath(path: string[]): string[] {
    if (this.#variables.includes(path[0]!)) return path;
    const canonical = this.schema.canonicalPath(path);
    const joined = canonical.join('/');
    if (!this.properties.includes(joined)) this.properties.push(joined);
    return canonical;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation

function literalValue(literal: Literal): unknown {
  return literal.value;
}

function compareValues(op: string, left: unknown, right: unknown): boolean {
  if (left === null || left === undefined || right === null || right === undefined) {
    const same = (left ?? null) === (right ?? null);
    if (op === 'eq') return same;
    if (op === 'ne') return !same;
    return false;
  }
  let a: string | number | boolean;
  let b: string | number | boolean;
  if (typeof left === 'string' && typeof right === 'string') {
    // Exchange compares strings case-insensitively.
    a = left.toLowerCase();
    b = right.toLowerCase();
  } else if (typeof left === 'number' && typeof right === 'number') {
    a = left;
    b = right;
  } else if (typeof left === 'boolean' && typeof right === 'boolean') {
    a = left;
    b = right;
  } else {
    return op === 'ne';
  }
  switch (op) {
    case 'eq':
      return a === b;
    case 'ne':
      return a !== b;
    case 'gt':
      return a > b;
    case 'ge':
      return a >= b;
    case 'lt':
      return a < b;
    default:
      return a <= b;
  }
}

function nestedValue(value: unknown, path: string[]): unknown {
  let current = value;
  for (const segment of path) {
    if (current === null || current === undefined || typeof current !== 'object') return undefined;
    const record = current as Record<string, unknown>;
    const key = Object.keys(record).find((each) => each.toLowerCase() === segment.toLowerCase());
    current = key === undefined ? undefined : record[key];
  }
  return current;
}

interface Scope<T> {
  schema: ODataSchema<T>;
  item: T;
  variables: Map<string, unknown>;
}

function operandValue<T>(operand: Operand, scope: Scope<T>): unknown {
  if (operand.kind === 'literal') return literalValue(operand.literal);
  if (operand.kind === 'lambda') return evaluate(operand.expr, scope);
  const [head, ...rest] = operand.path;
  if (scope.variables.has(head!)) return nestedValue(scope.variables.get(head!), rest);
  return scope.schema.valueAt(scope.item, operand.path);
}

function evaluate<T>(expr: FilterExpr, scope: Scope<T>): boolean {
  switch (expr.kind) {
    case 'and':
      return evaluate(expr.left, scope) && evaluate(expr.right, scope);
    case 'or':
      return evaluate(expr.left, scope) || evaluate(expr.right, scope);
    case 'not':
      return !evaluate(expr.expr, scope);
    case 'compare':
      return compareValues(expr.op, operandValue(expr.left, scope), operandValue(expr.right, scope));
    case 'function': {
      const target = operandValue(expr.target, scope);
      const value = operandValue(expr.value, scope);
      if (typeof target !== 'string' || typeof value !== 'string') return false;
      const haystack = target.toLowerCase();
      const needle = value.toLowerCase();
      if (expr.name === 'contains') return haystack.includes(needle);
      if (expr.name === 'startswith') return haystack.startsWith(needle);
      return haystack.endsWith(needle);
    }
    case 'any': {
      const collection = scope.schema.valueAt(scope.item, expr.path);
      if (!Array.isArray(collection)) return false;
      if (!expr.body) return collection.length > 0;
      const body = expr.body;
      return collection.some((element) => {
        scope.variables.set(expr.variable, element);
        const result = evaluate(body, scope);
        scope.variables.delete(expr.variable);
        return result;
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Query options

export interface OrderTerm {
  path: string[];
  descending: boolean;
}

export interface CollectionQuery<T> {
  filter: ((item: T) => boolean) | null;
  /** Property paths the filter names, in order of first appearance. */
  filterProperties: string[];
  orderBy: OrderTerm[];
  select: string[] | undefined;
  top: number;
  skip: number;
  count: boolean;
  expand: string[];
}

export const DEFAULT_PAGE_SIZE = 10;
export const MAX_PAGE_SIZE = 1000;

/** Query options with or without `$` (Graph v1.0 accepts both spellings for these). */
export function queryOption(query: Record<string, unknown>, name: string): string | undefined {
  const value = query[`$${name}`] ?? query[name];
  if (Array.isArray(value)) return typeof value[0] === 'string' ? value[0] : undefined;
  return typeof value === 'string' ? value : undefined;
}

function integerOption(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw.trim())) {
    throw new GraphError(400, 'BadRequest', `Invalid value '${raw}' for $${name} query option found.`);
  }
  return Number(raw.trim());
}

export function parseCollectionQuery<T>(
  query: Record<string, unknown>,
  schema: ODataSchema<T>,
  options: { selectable?: Map<string, string> } = {},
): CollectionQuery<T> {
  const filterText = queryOption(query, 'filter');
  let filter: CollectionQuery<T>['filter'] = null;
  let filterProperties: string[] = [];
  if (filterText !== undefined && filterText.trim() !== '') {
    const parser = new FilterParser(filterText, schema);
    const expr = parser.parse();
    filterProperties = parser.properties;
    filter = (item: T) => evaluate(expr, { schema, item, variables: new Map() });
  }
  const orderText = queryOption(query, 'orderby');
  const orderBy: OrderTerm[] = [];
  if (orderText !== undefined && orderText.trim() !== '') {
    for (const term of orderText.split(',')) {
      const [rawPath, direction, ...extra] = term.trim().split(/\s+/);
      if (!rawPath || extra.length > 0 || (direction && !/^(asc|desc)$/i.test(direction))) {
        throw new GraphError(400, 'BadRequest', `Invalid $orderby clause '${orderText}'.`);
      }
      orderBy.push({ path: schema.canonicalPath(rawPath.split('/')), descending: direction?.toLowerCase() === 'desc' });
    }
  }
  if (filter && orderBy.length > 0) {
    // @see docs/graph.md §3.1: `$orderby` properties must appear first in `$filter`, in the same order.
    orderBy.forEach((term, index) => {
      if (filterProperties[index]?.toLowerCase() !== term.path.join('/').toLowerCase()) {
        throw new GraphError(
          400,
          'InefficientFilter',
          'The restriction or sort order is too complex for this operation.',
        );
      }
    });
  }
  const selectText = queryOption(query, 'select');
  let select: string[] | undefined;
  if (selectText !== undefined && selectText.trim() !== '') {
    const selectable = options.selectable ?? schema.properties;
    select = [];
    for (const raw of selectText.split(',')) {
      const name = raw.trim();
      const canonical = selectable.get(name.toLowerCase());
      if (!canonical) throw unknownQueryProperty(name, schema.typeName);
      if (!select.includes(canonical)) select.push(canonical);
    }
  }
  const top = Math.min(integerOption('top', queryOption(query, 'top'), DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE);
  const skip = integerOption('skip', queryOption(query, 'skip'), 0);
  const countText = queryOption(query, 'count');
  if (countText !== undefined && !/^(true|false)$/i.test(countText)) {
    throw new GraphError(400, 'BadRequest', `Invalid value '${countText}' for $count query option found.`);
  }
  const expandText = queryOption(query, 'expand');
  const expand = expandText ? expandText.split(',').map((each) => each.trim().toLowerCase()) : [];
  return { filter, filterProperties, orderBy, select, top, skip, count: countText?.toLowerCase() === 'true', expand };
}

function compareForOrder(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  if (typeof a === 'string' && typeof b === 'string') {
    const x = a.toLowerCase();
    const y = b.toLowerCase();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
}

/** Sorts by the `$orderby` terms, then by `fallback` (the collection's natural order). */
export function sortItems<T>(
  items: T[],
  schema: ODataSchema<T>,
  orderBy: OrderTerm[],
  fallback: (a: T, b: T) => number,
): T[] {
  return items.sort((a, b) => {
    for (const term of orderBy) {
      const result = compareForOrder(schema.valueAt(a, term.path), schema.valueAt(b, term.path));
      if (result !== 0) return term.descending ? -result : result;
    }
    return fallback(a, b);
  });
}

/** The `@odata.nextLink` for the page after `skip + top`: the same request with `$skip` moved on. */
export function nextLink(origin: string, url: string, skip: number, top: number): string {
  const [path, search = ''] = url.split('?', 2);
  const params = new URLSearchParams(search);
  params.delete('skip');
  params.delete('$skip');
  params.set('$skip', String(skip + top));
  if (!params.has('$top') && !params.has('top')) params.set('$top', String(top));
  return `${origin}${path}?${params.toString().replace(/%24/g, '$')}`;
}
