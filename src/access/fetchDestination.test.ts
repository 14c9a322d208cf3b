import { NotAllowedError } from '@backstage/errors';
import { refuseActiveDestination } from './fetchDestination';

const request = (dest?: string | string[]) => ({
  headers: dest === undefined ? {} : { 'sec-fetch-dest': dest as string },
});

describe('refuseActiveDestination', () => {
  it.each([
    'script',
    'style',
    'worker',
    'sharedworker',
    'serviceworker',
    'audioworklet',
    'paintworklet',
    'xslt',
    'json',
    'manifest',
    'report',
    'webidentity',
    'speculationrules',
    'some-future-destination',
    'SCRIPT',
    ' script ',
    '',
  ])('refuses what a page would run or apply: %j', dest => {
    expect(() => refuseActiveDestination(request(dest))).toThrow(NotAllowedError);
  });

  it('says why in the refusal', () => {
    expect(() => refuseActiveDestination(request('script'))).toThrow(
      /does not serve answers to be loaded as "script" \(Sec-Fetch-Dest\)/,
    );
  });

  it('refuses a list, which no browser sends, even when it names an allowed destination', () => {
    expect(() => refuseActiveDestination(request('image, script'))).toThrow(NotAllowedError);
    expect(() => refuseActiveDestination(request(['image', 'script']))).toThrow(NotAllowedError);
  });

  it.each([
    'document',
    'iframe',
    'frame',
    'object',
    'embed',
    'image',
    'audio',
    'video',
    'track',
    'font',
    'empty',
    'Image',
  ])('serves what a browser shows or hands to script as data: %j', dest => {
    expect(() => refuseActiveDestination(request(dest))).not.toThrow();
  });

  it('serves requests without the header: curl, backends, SDKs, older browsers', () => {
    expect(() => refuseActiveDestination(request())).not.toThrow();
  });
});
