// Types for the anspack decoder (spec/FORMAT.md).

/** dtype names, as numpy spells them. */
export type DType = 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'float16' | 'float32';

/** The typed array holding a tensor's values (float16 tensors: their binary16 bit patterns). */
export type TensorData =
  | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array;

/** Error names of spec section 14, plus BadArgument for a caller's mistake. */
export type ErrorCode =
  | 'BadMagic' | 'UnsupportedVersion' | 'ReservedNonZero' | 'Truncated' | 'SizeMismatch' | 'BadTable'
  | 'BadMetadata' | 'BadLayout' | 'BadModel' | 'CorruptStream' | 'ChecksumMismatch' | 'LimitExceeded'
  | 'UnsupportedDequant' | 'BadDequant' | 'BadArgument';

export const ErrorCodes: readonly ErrorCode[];

/** Thrown for every malformed file or bad argument. */
export class AnspackError extends Error {
  constructor(code: ErrorCode, message: string, where?: { offset?: number | null; tensor?: string | null });
  readonly name: 'AnspackError';
  /** Which rule failed (spec section 14). */
  readonly code: ErrorCode;
  /** Byte offset in the file of the offending field, or null. */
  readonly offset: number | null;
  /** Name of the tensor concerned, or null. */
  readonly tensor: string | null;
}

/** A tensor table entry, as readHeader lists it (no data decoded). */
export interface TensorInfo {
  name: string;
  shape: number[];
  dtype: DType;
  /** 'rans': coding 0; 'raw': coding 1; 'groups': coding 2, rANS in row groups (spec revision 4, section 7.4). */
  coding: 'rans' | 'raw' | 'groups';
  /** FxHash26 of the decoded ids / raw bit patterns, stored in the table. */
  checksum: number;
  /** FxHash26 of the block bytes not covered by `checksum` (model, dequant block). */
  blockChecksum: number;
  /** Number of entries (product of the shape). */
  n: number;
  dataOffset: number;
  dataSize: number;
  dequantOffset: number;
  dequantSize: number;
  /** Kind of the dequant block, when there is one. */
  dequantKind?: number;
  /**
   * rANS only: vocabulary size V (distinct symbols; with `product`, distinct entries), lanes L (per
   * chunk), words W (all chunks), precision P.
   */
  vocabSize?: number;
  lanes?: number;
  words?: number;
  precision?: number;
  /**
   * rANS only (spec revision 2, section 7.1): each symbol is a pair of consecutive entries of this
   * 1-byte tensor (int8 / uint8), coded as one u16 value. The decoded `data` is still the n entries.
   */
  pairs?: boolean;
  /**
   * rANS only (spec revision 3, section 7.3): PRODUCT pairs (`pairs` is true too). The file stores the
   * model of the entries (`vocabSize` = V distinct entry values and their CDF); the decoder derives
   * the model of the V^2 pair ids from it. Decoded like plain pairs.
   */
  product?: boolean;
  /** rANS only: number of coded symbols N (n, or n / 2 with pairs). */
  symbols?: number;
  /** rANS only (section 7.2): symbols per chunk Q; 0 = the tensor is one stream. */
  chunkSize?: number;
  /**
   * rANS only: number of chunks K (1 when chunkSize is 0; 0 for an empty tensor). Chunks are
   * independent streams sharing the model: decodeAsync splits them over workers, decodeGPU over
   * workgroups.
   */
  chunks?: number;
  /** Row groups only (coding 2, section 7.4): the number of groups G (2 .. min(shape[0], 256)). */
  groupCount?: number;
  /** Row groups only: the group of each of the shape[0] rows (a copy of the file's row map). */
  rowMap?: Uint8Array;
  /**
   * Row groups only: per group, its sub-block -- a coding-0 block of the group's tensor (its `rows`
   * rows, in increasing row order, back to back: `n` = rows * the row size entries, `shape` [rows,
   * ...shape.slice(1)]) -- with the rANS fields above, and `checksum` = the stored group checksum.
   * The tensor's own `checksum` is the FxHash26 of the group checksums.
   */
  groups?: GroupInfo[];
}

/** One row group of a coding-2 tensor (spec section 7.4): its sub-block, a coding-0 block. */
export interface GroupInfo {
  group: number;
  rows: number;
  n: number;
  shape: number[];
  checksum: number;
  dataOffset: number;
  dataSize: number;
  vocabSize: number;
  lanes: number;
  words: number;
  precision: number;
  pairs: boolean;
  product: boolean;
  symbols: number;
  chunkSize: number;
  chunks: number;
}

export interface FileHeader {
  version: 1;
  fileSize: number;
  /** FxHash26 of header, table and metadata. */
  headerChecksum: number;
  metadata: Record<string, unknown>;
  tensors: TensorInfo[];
}

export interface Tensor {
  name: string;
  shape: number[];
  /**
   * The dtype of `data`: 'float32' for a dequantized tensor; with the `nibbles` option 'int4' /
   * 'uint4' for an int8 / uint8 tensor returned packed (a Uint8Array of ceil(n / 2) bytes, entry 2i
   * in the low nibble of byte i).
   */
  dtype: DType | 'int4' | 'uint4';
  /** The dtype stored in the file, when `data` was dequantized, converted (float16 -> float32) or packed (nibbles). */
  storedDtype?: DType;
  data: TensorData;
  /**
   * FxHash26 of the decoded ids (rANS) or of the raw block (u8 / LE u16 units); for a chunked rANS
   * tensor, of its chunk checksums (each verified against its chunk's ids). Equal to the table's when
   * verified.
   */
  checksum: number;
}

export interface DecodeOptions {
  /** Compare the header, block and data checksums with the stored ones (default true). */
  verify?: boolean;
  /** Tensors with a dequant block -> Float32Array; float16 raw -> Float32Array (default false). */
  dequantize?: boolean;
  /** Limit on the entries of any one tensor, checked before allocating (default 2^28). */
  maxEntries?: number;
  /** Limit on the entries of all tensors decoded by one call (default 2^30). */
  maxTotalEntries?: number;
  /**
   * rANS decode loops: 'wasm' (the WebAssembly core of src/wasm/; BadArgument where WebAssembly
   * cannot run), 'js' (the pure-JS loops, the reference), or 'auto' (default): 'wasm' where available.
   */
  engine?: 'auto' | 'js' | 'wasm';
  /**
   * WebAssembly engine: decode the chunks of a chunked tensor (spec section 7.2) several at a time in
   * one loop, four for 8 lanes, else two (default true; faster on one thread and in decodeAsync's
   * workers, which use it too). The output does not depend on it.
   */
  twoStreams?: boolean;
  /**
   * int8 / uint8 tensors whose values all fit in 4 bits (the stored vocabulary, or a raw block's
   * bytes, within [-8, 7] / [0, 15]) come back packed two entries a byte: dtype 'int4' / 'uint4',
   * storedDtype 'int8' / 'uint8', data a Uint8Array of ceil(n / 2) bytes, entry 2i in the low nibble
   * of byte i (int4: two's complement; an odd n leaves the last high nibble 0). Not for tensors
   * returned dequantized; decodeGPU packs them on the GPU (its buffer holds the packed bytes) (default false).
   */
  nibbles?: boolean;
}

export interface DecodeResult {
  tensors: Tensor[];
  byName: Record<string, Tensor>;
  metadata: Record<string, unknown>;
}

export type Input = ArrayBuffer | SharedArrayBuffer | ArrayBufferView;

/** Decode every tensor of a file. */
export function decode(
  buffer: Input,
  options?: DecodeOptions & { outputs?: Record<string, TensorData> },
): DecodeResult;

/** Decode one tensor by name (the whole file is validated). */
export function decodeTensor(buffer: Input, name: string, options?: DecodeOptions & { out?: TensorData }): Tensor;

/** List tensors and metadata without decoding; validates everything but the streams and block checksums. */
export function readHeader(buffer: Input, options?: { maxEntries?: number; verify?: boolean }): FileHeader;

/** FxHash26 (spec section 11) of integers in [0, 2^32). */
export function fxhash26(ids: ArrayLike<number> | Iterable<number>): number;

/** IEEE binary16 bit patterns -> Float32Array. */
export function float16ToFloat32(bits: Uint16Array): Float32Array;

/** Entries (each in [-8, 7] or [0, 15]) packed two a byte into `out` (length >= ceil(n / 2)), the even one in the low nibble. */
export function packNibbles(entries: Int8Array | Uint8Array, out: Uint8Array): void;

/** Defaults of DecodeOptions.maxEntries and maxTotalEntries. */
export const DEFAULT_MAX_ENTRIES: number;
export const DEFAULT_MAX_TOTAL_ENTRIES: number;

/** Typed array constructor per dtype. */
export const ARRAY_TYPES: Readonly<Record<DType, new (n: number) => TensorData>>;

/** Options of decodeSeedLayout: the shape, which the seed layout does not store. */
export interface SeedLayoutOptions {
  rows: number;
  cols: number;
  matrices: number;
  /** Limit on matrices * rows * cols (default 2^32). */
  maxEntries?: number;
}

/**
 * Decode a file in the seed notebook's WebGL layout (spec Appendix A): each matrix's symbol ids in
 * row-major order (Uint8Array when it has at most 256 symbols) and their FxHash26 checksums.
 */
export function decodeSeedLayout(buffer: Input, options: SeedLayoutOptions): { ids: (Uint8Array | Uint16Array)[]; checksums: number[] };

/** @internal A typed array for decoded output (unzeroed in node for large sizes); used by the worker. */
export function newOutputArray<T extends TensorData>(Ctor: new (n: number) => T, n: number): T;
/** @internal The ChecksumMismatch error of a row group; used by the WebGPU decoder. */
export function groupChecksumError(sub: GroupInfo, got: number): AnspackError;

// ---- Parallel and streaming decode (src/async.js, src/stream.js) ----

export interface AsyncDecodeOptions extends DecodeOptions {
  /** Caller-supplied output arrays by name, as for decode() (filled by a copy from the workers' arrays). */
  outputs?: Record<string, TensorData>;
  /**
   * Number of workers (default: hardware concurrency, at most one per tensor or chunk); 0 = decode on
   * the calling thread. Chunked tensors (TensorInfo.chunks > 1) are split into ranges of chunks over
   * the workers, so a file with one big chunked tensor still decodes in parallel.
   */
  workers?: number;
  /** A pool from createDecoderPool() to use instead of starting workers (it stays alive). */
  pool?: DecoderPool;
  /** Where worker.js is served from (default: next to async.js). */
  workerUrl?: string | URL;
}

export interface DecoderPool {
  readonly size: number;
  /** Decode every tensor of a file on the pool's workers (tensors are split across workers). */
  decode(buffer: Input, options?: DecodeOptions): Promise<DecodeResult>;
  /** Stop the workers; pending and later decodes reject with BadArgument. */
  terminate(): Promise<void>;
}

/** Decode every tensor on Web Workers (browser) or worker_threads (node); same result as decode(). */
export function decodeAsync(buffer: Input, options?: AsyncDecodeOptions): Promise<DecodeResult>;

/** Start a pool of decoding workers (default size: hardware concurrency). */
export function createDecoderPool(size?: number, options?: { workerUrl?: string | URL }): Promise<DecoderPool>;

/** Table entry summary passed to decodeStream's onHeader callback. */
export interface StreamTensorInfo {
  name: string; shape: number[]; dtype: DType; coding: 'rans' | 'raw' | 'groups'; n: number; checksum: number;
  blockChecksum: number; dataOffset: number; dataSize: number; dequantOffset: number; dequantSize: number;
}

export interface StreamDecodeOptions extends DecodeOptions {
  /** Decode each tensor on one of this many workers while the next bytes arrive (default 0: this thread). */
  workers?: number;
  /** A pool from createDecoderPool() to decode on (kept alive). */
  pool?: DecoderPool;
  /** Where worker.js is served from, when `workers` starts a pool. */
  workerUrl?: string | URL;
  /** Called once the header, table and metadata have arrived and been validated. */
  onHeader?: (info: { fileSize: number; metadata: Record<string, unknown>; tensors: StreamTensorInfo[] }) => void;
}

/** Yield each tensor, in table order, as soon as its bytes have arrived. */
export function decodeStream(
  source: ReadableStream<Uint8Array> | Response | AsyncIterable<Uint8Array | ArrayBuffer | ArrayBufferView>,
  options?: StreamDecodeOptions,
): AsyncGenerator<Tensor, void, void>;

/** Fetch one tensor with HTTP Range requests (header, table + metadata, then just its blocks). */
export function fetchTensor(
  url: string | URL,
  name: string,
  options?: DecodeOptions & { fetch?: typeof fetch; init?: RequestInit },
): Promise<Tensor>;

/** A WebGPU GPUDevice / GPUBuffer; typed `any` here so that the types need no @webgpu/types. */
export type WebGPUDevice = any;
export type WebGPUBuffer = any;

/** Options of decodeGPU (WebGPU decoder, src/gpu.js): DecodeOptions plus the GPU's own. */
export interface DecodeGPUOptions extends DecodeOptions {
  /** The WebGPU device to use (default: one requested from navigator.gpu with the adapter's buffer limits). */
  device?: WebGPUDevice;
  /** Return each tensor's values as a typed array in `data` (default true). */
  readback?: boolean;
  /** Also return each tensor's values as a GPUBuffer in `buffer` (STORAGE | COPY_SRC, little-endian, size rounded up to 4; with nibbles the packed bytes); the caller destroys it (default false). */
  keepBuffers?: boolean;
  /** Schedule of the row loop: one workgroup per tensor looping over rows, all such tensors of a batch in one dispatch ('single'); two dispatches per row over ceil(L/256) workgroups ('rows'); or 'rows' when L >= 16384 ('auto', the default). */
  strategy?: 'auto' | 'single' | 'rows';
  /** GPU memory for one batch of tensors decoded by one submission (default 256 MiB). */
  batchBytes?: number;
}

export interface GPUTensor extends Omit<Tensor, 'data' | 'checksum'> {
  /** The values (absent with readback: false). */
  data?: TensorData;
  /** With keepBuffers: the values on the GPU. */
  buffer?: WebGPUBuffer;
  /** FxHash26 of the ids (hashed on the CPU); null when neither verify nor readback asked for the ids. */
  checksum: number | null;
  /**
   * 'gpu' for rANS tensors with entries; raw and empty tensors are decoded on the CPU, and so are
   * chunked tensors with keepBuffers whose chunks' values (with nibbles: packed bytes) do not fill
   * whole 4-byte words.
   */
  decodedOn: 'gpu' | 'cpu';
  strategy?: 'single' | 'rows';
  /** Chunked tensors decoded on the GPU: the number of chunks (one part per chunk, joined). */
  chunks?: number;
  /** Row-group tensors decoded on the GPU: the number of groups (sub-blocks decoded, rows placed on the CPU). */
  groups?: number;
}

export interface DecodeGPUResult {
  tensors: GPUTensor[];
  byName: Record<string, GPUTensor>;
  metadata: Record<string, unknown>;
  /** Tensors per side, compute dispatches and queue submissions made, schedule per tensor. */
  stats: { gpuTensors: number; cpuTensors: number; dispatches: number; submits: number; strategies: Record<string, 'single' | 'rows'> };
}

/** Decode every tensor of a file, rANS tensors with WebGPU compute shaders (results equal decode()'s). */
export function decodeGPU(buffer: Input, options?: DecodeGPUOptions): Promise<DecodeGPUResult>;
