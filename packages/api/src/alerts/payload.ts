// What a webhook receives. JSON (format `json`): the alert as below. Slack
// (format `slack`): Slack's incoming-webhook shape, `{ text, blocks }`, which
// Slack, Mattermost, Rocket.Chat and Discord's /slack endpoint accept.
// docs/alerts.md documents both and the signature.
export interface AlertPayload {
  type: 'alert' | 'test';
  id: string;
  kind: string;
  state: 'firing' | 'resolved';
  title: string;
  detail: string;
  organization: { id: string; name: string };
  data: Record<string, unknown>;
  createdAt: string;
  url: string;
}

export function alertPayload(
  a: { id: string; kind: string; state: string; title: string; detail: string; data: unknown; createdAt: Date },
  organization: { id: string; name: string },
  publicUrl: string,
): AlertPayload {
  return {
    type: 'alert',
    id: a.id,
    kind: a.kind,
    // An alert ended because its subject went or its rule was turned off closes the incident like a recovery (data.reason says why).
    state: a.state === 'firing' ? 'firing' : 'resolved',
    title: a.title,
    detail: a.detail,
    organization,
    data: (a.data ?? {}) as Record<string, unknown>,
    createdAt: a.createdAt.toISOString(),
    url: `${publicUrl}/app/alerts`,
  };
}

export function testPayload(organization: { id: string; name: string }, publicUrl: string, now = new Date()): AlertPayload {
  return {
    type: 'test',
    id: `test-${now.getTime()}`,
    kind: 'test',
    state: 'firing',
    title: 'Test alert from Tula',
    detail: 'Sent with "Send test"; no action needed.',
    organization,
    data: {},
    createdAt: now.toISOString(),
    url: `${publicUrl}/app/alerts`,
  };
}

/** The body for a webhook of this format. */
export function webhookBody(p: AlertPayload, format: 'json' | 'slack'): string {
  if (format === 'json') return JSON.stringify(p);
  const mark = p.state === 'resolved' ? ':white_check_mark:' : p.type === 'test' ? ':information_source:' : ':rotating_light:';
  const text = `${mark} ${p.title}`;
  return JSON.stringify({
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `*${text}*\n${p.detail}` } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `${p.organization.name} · ${p.kind} · <${p.url}|open in Tula>` }] },
    ],
  });
}

/** The mail for one alert. */
export function alertMail(p: AlertPayload) {
  return { subject: `[Tula] ${p.title}`, text: `${p.title}\n\n${p.detail}\n\nOrganisation: ${p.organization.name}\n${p.url}\n` };
}
