import { isDataFrameLike, tableOfDataFrame } from './dataframe';
import { JUPYTER_DISPLAY, isDisplayable, plainText, type MimeBundle } from './mime';

/**
 * The bundle a value displays as: its own bundle when it is Displayable (text/plain filled in
 * if left out, since every frontend needs a fallback; empty when it has nothing to show), a
 * table for danfojs DataFrames, otherwise text/plain alone.
 */
export async function mimeBundleOf(value: unknown): Promise<MimeBundle> {
  if (isDisplayable(value)) {
    const bundle = await value[JUPYTER_DISPLAY]();
    if (typeof bundle === 'object' && bundle !== null) {
      // An empty bundle means "nothing to show" (e.g. a display handle).
      if (Object.keys(bundle).length === 0 || 'text/plain' in bundle) return { ...bundle };
      return { ...bundle, 'text/plain': plainText(value) };
    }
  } else if (isDataFrameLike(value)) {
    return tableOfDataFrame(value)[JUPYTER_DISPLAY]();
  }
  return { 'text/plain': plainText(value) };
}
