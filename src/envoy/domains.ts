/**
 * A rule Envoy enforces beyond `(validate.rules)`: it rejects a route configuration in which two
 * virtual hosts claim one domain (compared without case). Reported on the later virtual host.
 */
export function duplicateDomains(
  vhosts: readonly { name: string; domains: readonly string[] }[],
): { vhost: string; message: string }[] {
  const owner = new Map<string, string>();
  const out: { vhost: string; message: string }[] = [];
  for (const vhost of vhosts) {
    for (const domain of vhost.domains) {
      const first = owner.get(domain.toLowerCase());
      if (first !== undefined)
        out.push({ vhost: vhost.name, message: `domain "${domain}" is also in virtual host ${first}` });
      else owner.set(domain.toLowerCase(), vhost.name);
    }
  }
  return out;
}
