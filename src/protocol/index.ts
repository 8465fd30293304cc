export * from './errors.js';
export * from './model.js';
export * from './frames.js';
export * from './sign.js';
