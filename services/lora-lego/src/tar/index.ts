export { BLOCK, MAX_OCTAL_SIZE, encodeFileHeader } from './ustar.js';
export { createTarStream, serializeTar, tarSize, type TarFileToWrite, type TarStream } from './tar-writer.js';
export { normaliseTarPath, parsePaxRecords, readTarIndex, subrangeSource, type TarEntry, type TarIndexOptions } from './tar-reader.js';
