export { ImageProcessor, shortestEdgeSize, type ImageSource } from './processor';
export { optionsFromConfig, type ImageProcessorOptions, type ResizeSpec } from './config';
export { decodeImage, readImage } from './decode';
export { centerCrop, toChannels, isPixels, type Pixels } from './pixels';
export { resize, RESAMPLE_BY_PIL_CODE, type ResampleFilter } from './resample';
export { TextTokenizer, type EncodeOptions, type TextInputs } from './tokenizer';
