/**
 * Boolean expressions over step names, as in `(basic1 || basic2 || (oidc1 && !oidc2))`.
 * `!` binds tightest, then `&&`, then `||`; parentheses group. Parsing happens once per config
 * load; evaluation (in `decide.ts`) walks the tree with short-circuit.
 */

export type Expression =
  | { kind: "step"; name: string; position: number }
  | { kind: "not"; operand: Expression }
  | { kind: "and" | "or"; left: Expression; right: Expression };

/** A syntax error, with the 1-based column where it was found. */
export class ExpressionSyntaxError extends Error {
  constructor(
    readonly column: number,
    readonly problem: string,
  ) {
    super(`column ${column}: ${problem}`);
    this.name = "ExpressionSyntaxError";
  }
}

type Token =
  | { kind: "name"; text: string; position: number }
  | { kind: "&&" | "||" | "!" | "(" | ")"; position: number }
  | { kind: "end"; position: number };

const nameChar = /[A-Za-z0-9_.:-]/;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++;
    } else if (c === "(" || c === ")" || c === "!") {
      tokens.push({ kind: c, position: i });
      i++;
    } else if ((c === "&" || c === "|") && text[i + 1] === c) {
      tokens.push({ kind: c === "&" ? "&&" : "||", position: i });
      i += 2;
    } else if (nameChar.test(c)) {
      const start = i;
      while (i < text.length && nameChar.test(text[i] as string)) i++;
      tokens.push({ kind: "name", text: text.slice(start, i), position: start });
    } else {
      const hint = c === "&" || c === "|" ? ` (did you mean "${c}${c}"?)` : "";
      throw new ExpressionSyntaxError(i + 1, `unexpected character "${c}"${hint}`);
    }
  }
  tokens.push({ kind: "end", position: text.length });
  return tokens;
}

function describe(token: Token): string {
  switch (token.kind) {
    case "end":
      return "end of expression";
    case "name":
      return `name "${token.text}"`;
    default:
      return `"${token.kind}"`;
  }
}

/** Parses an expression; throws ExpressionSyntaxError naming the column. */
export function parseExpression(text: string): Expression {
  const tokens = tokenize(text);
  let index = 0;
  const peek = (): Token => tokens[index] as Token;
  const fail = (expected: string): never => {
    const token = peek();
    throw new ExpressionSyntaxError(token.position + 1, `expected ${expected}, found ${describe(token)}`);
  };

  const parseOr = (): Expression => {
    let left = parseAnd();
    while (peek().kind === "||") {
      index++;
      left = { kind: "or", left, right: parseAnd() };
    }
    return left;
  };
  const parseAnd = (): Expression => {
    let left = parseUnary();
    while (peek().kind === "&&") {
      index++;
      left = { kind: "and", left, right: parseUnary() };
    }
    return left;
  };
  const parseUnary = (): Expression => {
    const token = peek();
    if (token.kind === "!") {
      index++;
      return { kind: "not", operand: parseUnary() };
    }
    if (token.kind === "(") {
      index++;
      const inner = parseOr();
      if (peek().kind !== ")") fail('")"');
      index++;
      return inner;
    }
    if (token.kind === "name") {
      index++;
      return { kind: "step", name: token.text, position: token.position + 1 };
    }
    return fail('a step name, "!" or "("');
  };

  const expression = parseOr();
  if (peek().kind !== "end") fail('"&&", "||" or end of expression');
  return expression;
}

/** The expression every step must pass, in order: `a && b && c`. */
export function allOf(names: readonly string[]): Expression {
  const [first, ...rest] = names;
  if (first === undefined) throw new Error("allOf needs at least one step");
  let expression: Expression = { kind: "step", name: first, position: 0 };
  for (const name of rest) expression = { kind: "and", left: expression, right: { kind: "step", name, position: 0 } };
  return expression;
}

/** Step references in order of appearance, for checking that each names a step. */
export function stepReferences(expression: Expression): Array<{ name: string; position: number }> {
  switch (expression.kind) {
    case "step":
      return [{ name: expression.name, position: expression.position }];
    case "not":
      return stepReferences(expression.operand);
    default:
      return [...stepReferences(expression.left), ...stepReferences(expression.right)];
  }
}
