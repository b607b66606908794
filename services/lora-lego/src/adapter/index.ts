/** PEFT LoRA adapter I/O: config and scaling rules, reading, writing, uploads. */
export * from './peft-config.js';
export * from './peft-keys.js';
export * from './peft-adapter.js';
export * from './carried.js';
export * from './peft-writer.js';
export * from './upload.js';
