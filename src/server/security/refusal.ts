/** The JSON error shape every route uses, for a request refused before it reaches a route. */
export function refusal(status: number, message: string, headers: Record<string, string> = {}): Response {
  return Response.json({ error: message }, { status, headers });
}
