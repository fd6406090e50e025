/**
 * Headless Chromium for the page's tests and the browser bench: Debian's `chromium` (setup installs
 * it) driven by playwright-core. `--enable-unsafe-webgpu` exposes WebGPU on an http://127.0.0.1 page
 * (a secure context); without a GPU the adapter is SwiftShader (Mesa's lavapipe is installed, but
 * Chromium 156 did not offer it with --use-vulkan=native and VK_ICD_FILENAMES pointing at it).
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** The Chromium binary: $CHROME_PATH, else Debian's. */
export const CHROMIUM_PATH = process.env.CHROME_PATH ?? '/usr/bin/chromium';
export const haveChromium = (): boolean => existsSync(CHROMIUM_PATH);

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless=new',
      '--no-sandbox',
      '--enable-unsafe-webgpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
    ],
  });
}
