/** A recognisable but useless hint of a secret: `sk-p…abcd`. Short secrets show only their last 2. */
export function maskSecret(secret: string): string {
  if (secret.length >= 16) return `${secret.slice(0, 4)}…${secret.slice(-4)}`;
  if (secret.length >= 8) return `…${secret.slice(-2)}`;
  return "…";
}
