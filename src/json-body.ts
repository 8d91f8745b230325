import { isUtf8 } from 'node:buffer'
import type { FastifyInstance } from 'fastify'
import secureJson from 'secure-json-parse'
import { InvalidRequestError, NotesSyncError } from './errors.js'

/** A body declared in a character set other than UTF-8, which JSON requires (RFC 8259). */
export class UnsupportedCharsetError extends NotesSyncError {
  constructor (charset: string) {
    super(
      'UNSUPPORTED_MEDIA_TYPE',
      `Unsupported charset "${charset}"; send the body as application/json in UTF-8, with no charset or charset=utf-8.`,
    )
  }
}

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)"?/i

/**
 * Replace Fastify's JSON parser with one that reads the raw bytes, so that
 * text is never altered on the way in. Decoding invalid UTF-8 as a string
 * would store U+FFFD in its place, so such bytes get 400, and a declared
 * charset other than UTF-8 gets 415. `__proto__` and
 * `constructor.prototype` keys are rejected with a message that names them.
 */
export function registerJsonParser (app: FastifyInstance): void {
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    // Fastify chose this parser by the Content-Type, so the header is set.
    const declared = CHARSET.exec(request.headers['content-type'] as string)
    const charset = declared === null ? undefined : (declared[1] as string).toLowerCase()
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      done(new UnsupportedCharsetError(charset), undefined)
      return
    }
    const bytes = body as Buffer
    if (bytes.length === 0) {
      done(new InvalidRequestError('The request body is empty; send a JSON object such as {"noteId":"a1"}.', 'INVALID_JSON'), undefined)
      return
    }
    if (!isUtf8(bytes)) {
      done(new InvalidRequestError('The request body is not valid UTF-8; send JSON encoded as UTF-8.', 'INVALID_JSON'), undefined)
      return
    }

    try {
      done(null, secureJson.parse(bytes.toString('utf8'), undefined, { protoAction: 'error', constructorAction: 'error' }))
    } catch (err) {
      const poisoned = /prototype property/.test((err as Error).message)
      done(new InvalidRequestError(
        poisoned
          ? 'The request body contains a "__proto__" or "constructor.prototype" key; remove it.'
          : 'The request body is not valid JSON; send a JSON object.',
        'INVALID_JSON',
      ), undefined)
    }
  })
}
