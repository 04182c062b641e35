import busboy from 'busboy';
import type Koa from 'koa';
import { invalidParams, payloadTooLarge, UserError } from '../errors.ts';
import { SCRIPT_LANGUAGES } from '../http/app.ts';

/**
 * `POST /api/exec` as `multipart/form-data` (docs/rest-api.md, "Inputs as multipart"): files go in as
 * their bytes rather than base64 in JSON. Each file part is an input file named by its field name,
 * with its part's media type; text fields are the run's parameters as in a query string, `inputs`
 * and `tags` as JSON text; a part named `code` is the code, as a field or a file (`-F code=@job.js`,
 * whose media type may name the language).
 *
 * Streamed through busboy and bounded as it arrives, never buffered past a cap: the files and the
 * `inputs` text together at most the per-run input cap (413, the same limit a JSON body's `files`
 * meet in the run request check), the other fields together at most the request body cap (413), and
 * a bounded number of parts (400). Past a cap the rest of the body is dropped as it arrives.
 */

export interface MultipartCaps {
  maxInputBytes: number;
  maxBodyBytes: number;
}

/** What the form held: text fields by name (the caller coerces them), files as the run's `files` argument. */
export interface MultipartRun {
  fields: Record<string, string>;
  files: Record<string, { mime_type: string; data: string }>;
}

/** Input files and values a run may take (the run request check says the same, by name). */
const MAX_FILES = 64;
/** The run's parameters: a dozen exist; room for clients that send empty ones. */
const MAX_FIELDS = 32;
const MAX_NAME_BYTES = 128;
/** Fields whose bytes count as inputs, not as parameters. */
const INPUT_FIELDS = new Set(['inputs']);

export function isMultipart(ctx: Koa.Context): boolean {
  return ctx.request.is('multipart/form-data') === 'multipart/form-data';
}

export function readMultipartRun(ctx: Koa.Context, caps: MultipartCaps): Promise<MultipartRun> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: ctx.req.headers,
        limits: { fieldNameSize: MAX_NAME_BYTES, fieldSize: caps.maxBodyBytes, fields: MAX_FIELDS, files: MAX_FILES, fileSize: caps.maxInputBytes, parts: MAX_FIELDS + MAX_FILES },
      });
    } catch (err) {
      reject(invalidParams(`multipart body: ${(err as Error).message}`)); // no boundary in the content type
      return;
    }
    const out: MultipartRun = { fields: {}, files: {} };
    const taken = new Set<string>();
    let inputBytes = 0;
    let fieldBytes = 0;
    let failed = false;
    let open = 0; // file parts still streaming
    let closed = false;
    const fail = (err: UserError) => {
      if (failed) return;
      failed = true;
      ctx.req.unpipe(parser);
      // The rest of the body is read and dropped, so the client, still sending, gets the answer rather
      // than a broken pipe; one that goes on sending far past the caps is cut off.
      let dropped = 0;
      ctx.req.on('data', (chunk: Buffer) => {
        dropped += chunk.length;
        if (dropped > caps.maxBodyBytes + caps.maxInputBytes) ctx.req.destroy();
      });
      ctx.req.resume();
      reject(err);
    };
    const done = () => {
      if (!failed && closed && open === 0) resolve(out);
    };
    const name = (field: string) => {
      if (taken.has(field)) fail(invalidParams(`multipart body: ${JSON.stringify(field)} is given twice`));
      taken.add(field);
    };
    const countInput = (bytes: number) => {
      inputBytes += bytes;
      if (inputBytes > caps.maxInputBytes) fail(payloadTooLarge(`inputs and files take more than this server's limit of ${caps.maxInputBytes} bytes per run`));
    };
    const countField = (field: string, bytes: number) => {
      fieldBytes += bytes;
      if (fieldBytes > caps.maxBodyBytes) fail(payloadTooLarge(`the fields of the multipart body (${field} and those before it) take more than the request body limit of ${caps.maxBodyBytes} bytes`));
    };
    parser.on('field', (field, value, info) => {
      if (info.nameTruncated) return fail(invalidParams(`multipart body: a field name is longer than ${MAX_NAME_BYTES} bytes`));
      if (info.valueTruncated) return fail(payloadTooLarge(`multipart field ${field} is longer than the request body limit of ${caps.maxBodyBytes} bytes`));
      if (field === 'files') return fail(invalidParams('multipart body: send each file as a file part named after it, not as a `files` field'));
      name(field);
      if (INPUT_FIELDS.has(field)) countInput(Buffer.byteLength(value));
      else countField(field, Buffer.byteLength(value));
      out.fields[field] = value;
    });
    parser.on('file', (field, stream, info) => {
      name(field);
      const isCode = field === 'code';
      const chunks: Buffer[] = [];
      open++;
      stream.on('data', (chunk: Buffer) => {
        if (failed) return;
        if (isCode) countField(field, chunk.length);
        else countInput(chunk.length);
        chunks.push(chunk);
      });
      // busboy stops a part at `fileSize`: one file alone over the input cap.
      stream.on('limit', () => fail(payloadTooLarge(`file ${field} is over this server's limit of ${caps.maxInputBytes} bytes of inputs per run`)));
      stream.on('end', () => {
        open--;
        const bytes = Buffer.concat(chunks);
        if (isCode) {
          out.fields.code = bytes.toString('utf8');
          const language = SCRIPT_LANGUAGES[info.mimeType];
          if (language) out.fields.language ??= language;
        } else {
          out.files[field] = { mime_type: info.mimeType, data: bytes.toString('base64') };
        }
        done();
      });
    });
    for (const event of ['partsLimit', 'filesLimit', 'fieldsLimit'] as const) {
      parser.on(event, () => fail(invalidParams(`multipart body: at most ${MAX_FILES} files and ${MAX_FIELDS} fields`)));
    }
    parser.on('error', (err: unknown) => fail(invalidParams(`multipart body: ${err instanceof Error ? err.message : String(err)}`)));
    parser.on('close', () => {
      closed = true;
      done();
    });
    ctx.req.on('error', () => fail(invalidParams('multipart body: the request was cut off')));
    ctx.req.pipe(parser);
  });
}
