export { JUPYTER_DISPLAY, isDisplayable, mimeBundleOf, plainText } from './mime';
export type { Displayable, MimeBundle } from './mime';
export { display, clearOutput, DisplayHandle, newDisplayId } from './display';
export type { DisplayOptions } from './display';
