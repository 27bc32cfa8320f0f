import { RESERVED_PREFIX } from './authorization';
import { InvalidInputError, MissingInputError } from './errors';

const MAX_CONNECTION_ID_LENGTH = 255;

/** A connection id as every operation takes it: a short text without control characters, outside the engine's own namespace. */
export function validateConnectionId(connectionId: unknown): string {
	if (typeof connectionId !== 'string' || connectionId.trim() === '') {
		throw new MissingInputError('connectionId');
	}
	if (connectionId.length > MAX_CONNECTION_ID_LENGTH) {
		throw new InvalidInputError(
			'connectionId',
			`is ${connectionId.length} characters long; the maximum is ${MAX_CONNECTION_ID_LENGTH}`,
		);
	}
	if (/[\u0000-\u001f\u007f]/.test(connectionId)) {
		throw new InvalidInputError(
			'connectionId',
			'contains control characters (such as a line break): remove them',
		);
	}
	if (connectionId.startsWith(RESERVED_PREFIX)) {
		throw new InvalidInputError(
			'connectionId',
			`starts with "${RESERVED_PREFIX}", which is reserved for the token manager's own records: choose another`,
		);
	}
	return connectionId;
}
