/**
 * Escapes a value for use in a DN (RFC 4514 section 2.4): the special characters get a backslash,
 * a leading `#` or space and a trailing space are escaped, control characters become `\XX`. So a
 * user name like `alice,ou=admins` stays one attribute value and cannot reshape the DN.
 */
export function escapeDnValue(value: string): string {
  const chars = [...value];
  let escaped = "";
  for (const [index, char] of chars.entries()) {
    const code = char.codePointAt(0) ?? 0;
    if (code < 0x20 || code === 0x7f) {
      escaped += `\\${code.toString(16).padStart(2, "0").toUpperCase()}`;
    } else if (`"+,;<>\\=`.includes(char)) {
      escaped += `\\${char}`;
    } else if ((index === 0 && (char === "#" || char === " ")) || (index === chars.length - 1 && char === " ")) {
      escaped += `\\${char}`;
    } else {
      escaped += char;
    }
  }
  return escaped;
}

/** The user's DN: the template's one `%s` replaced by the escaped user name. */
export function userDn(template: string, username: string): string {
  return template.replace("%s", () => escapeDnValue(username));
}

/** A DN in a form fit for comparing: lower case, no spaces around separators. */
export function normalizeDn(dn: string): string {
  return dn
    .trim()
    .replace(/\s*([,=+])\s*/g, "$1")
    .toLowerCase();
}
