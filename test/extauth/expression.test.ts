import { describe, expect, it } from "vitest";
import { allOf, ExpressionSyntaxError, parseExpression, stepReferences } from "../../src/extauth/expression.js";

function show(text: string): string {
  const render = (e: ReturnType<typeof parseExpression>): string => {
    switch (e.kind) {
      case "step":
        return e.name;
      case "not":
        return `!${render(e.operand)}`;
      default:
        return `(${render(e.left)} ${e.kind} ${render(e.right)})`;
    }
  };
  return render(parseExpression(text));
}

function syntaxError(text: string): ExpressionSyntaxError {
  try {
    parseExpression(text);
  } catch (err) {
    if (err instanceof ExpressionSyntaxError) return err;
    throw err;
  }
  throw new Error(`"${text}" parsed`);
}

describe("boolean expressions", () => {
  it("binds ! tighter than && and && tighter than ||", () => {
    expect(show("a || b && !c")).toBe("(a or (b and !c))");
    expect(show("!a && b || c")).toBe("((!a and b) or c)");
  });

  it("groups with parentheses and associates to the left", () => {
    expect(show("(basic1 || basic2 || (oidc1 && !oidc2))")).toBe("((basic1 or basic2) or (oidc1 and !oidc2))");
    expect(show("a && (b || c) && d")).toBe("((a and (b or c)) and d)");
    expect(show("!!a")).toBe("!!a");
  });

  it("accepts step names with dots, dashes, colons and digits", () => {
    expect(show("api-key.v2 || config_0 || jwt:main")).toBe("((api-key.v2 or config_0) or jwt:main)");
  });

  it("lists step references with their columns", () => {
    expect(stepReferences(parseExpression("a && (bb || !c)"))).toEqual([
      { name: "a", position: 1 },
      { name: "bb", position: 7 },
      { name: "c", position: 14 },
    ]);
  });

  it("makes the default: every step, in order", () => {
    expect(allOf(["x", "y", "z"])).toMatchObject({ kind: "and", left: { kind: "and" }, right: { name: "z" } });
  });

  it.each([
    ["", 1, "expected a step name"],
    ["a &&", 5, "expected a step name"],
    ["a & b", 3, 'did you mean "&&"'],
    ["a | b", 3, 'did you mean "||"'],
    ["(a || b", 8, 'expected ")"'],
    ["a b", 3, 'found name "b"'],
    ["a)", 2, 'found ")"'],
    ["a && $b", 6, 'unexpected character "$"'],
    ["!", 2, "end of expression"],
  ])("rejects %j at column %i", (text, column, message) => {
    const err = syntaxError(text);
    expect(err.column).toBe(column);
    expect(err.message).toContain(`column ${column}`);
    expect(err.message).toContain(message);
  });
});
