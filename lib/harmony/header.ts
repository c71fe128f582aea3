/**
 * Reads a harmony message header (the text between `<|start|>` and `<|message|>`, special tokens
 * written as their names). Accepts the recipient before or after the channel (spec §5.5) and
 * never throws: whatever cannot be placed is left out of the fields, not out of the token span.
 */

export interface ParsedHeader {
  role: string;
  /** Tool name for tool messages (`functions.get_weather`), author name for `role:name`. */
  name: string | null;
  channel: string | null;
  recipient: string | null;
  contentType: string | null;
  /** True when the content type followed `<|constrain|>`. */
  constrained: boolean;
}

const KNOWN_ROLES = new Set(['system', 'developer', 'user', 'assistant']);
const CHANNEL_MARKER = '<|channel|>';
const CONSTRAIN_MARKER = '<|constrain|>';
const RECIPIENT_PREFIX = 'to=';

interface HeaderWithoutChannel {
  channel: string | null;
  rest: string;
}

/** The channel name runs from the marker to the next whitespace or special token. */
function takeChannel(header: string): HeaderWithoutChannel {
  const markerIndex = header.indexOf(CHANNEL_MARKER);
  if (markerIndex < 0) return { channel: null, rest: header };
  const afterMarker = header.slice(markerIndex + CHANNEL_MARKER.length);
  const nameLength = afterMarker.search(/[\s<]/);
  const channelEnd = nameLength < 0 ? afterMarker.length : nameLength;
  return {
    channel: afterMarker.slice(0, channelEnd),
    rest: `${header.slice(0, markerIndex)} ${afterMarker.slice(channelEnd)}`,
  };
}

export const UNKNOWN_ROLE = 'unknown';

function readAuthor(author: string): Pick<ParsedHeader, 'role' | 'name'> {
  if (author.length === 0) return { role: UNKNOWN_ROLE, name: null };
  const colon = author.indexOf(':');
  const roleBeforeColon = colon > 0 ? author.slice(0, colon) : null;
  if (roleBeforeColon !== null && KNOWN_ROLES.has(roleBeforeColon)) return { role: roleBeforeColon, name: author.slice(colon + 1) };
  if (KNOWN_ROLES.has(author)) return { role: author, name: null };
  return { role: 'tool', name: author };
}

/**
 * `presetRole` is for a header whose role was written before parsing began (the prompt's
 * `<|start|>assistant` prefill when only generated tokens are parsed).
 */
export function parseHeader(headerText: string, presetRole?: string): ParsedHeader {
  const { channel, rest } = takeChannel(headerText);
  const parts = rest.replaceAll(CONSTRAIN_MARKER, ` ${CONSTRAIN_MARKER}`).split(/\s+/).filter((part) => part.length > 0);
  const startsWithPresetRole = presetRole !== undefined && parts[0] === presetRole;
  const authorPart = presetRole === undefined ? parts.shift() ?? '' : startsWithPresetRole ? parts.shift() ?? presetRole : presetRole;
  const header: ParsedHeader = { ...readAuthor(authorPart), channel, recipient: null, contentType: null, constrained: false };
  let pendingConstrain = false;
  for (const part of parts) {
    if (part.startsWith(RECIPIENT_PREFIX) && header.recipient === null) {
      header.recipient = part.slice(RECIPIENT_PREFIX.length);
    } else if (part.startsWith(CONSTRAIN_MARKER)) {
      const typeName = part.slice(CONSTRAIN_MARKER.length);
      header.constrained = true;
      pendingConstrain = typeName.length === 0;
      if (!pendingConstrain) header.contentType = typeName;
    } else if (header.contentType === null) {
      header.contentType = part;
      header.constrained = pendingConstrain;
      pendingConstrain = false;
    }
  }
  return header;
}
