/** Epoch milliseconds as the API's timestamps (ISO 8601, UTC, milliseconds); null stays null. */
export function iso(ms: number): string;
export function iso(ms: number | null): string | null;
export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
