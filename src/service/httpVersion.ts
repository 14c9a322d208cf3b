import { NextFunction, Request, Response } from 'express';
import { InputError } from '@backstage/errors';
import { sendError } from '../forwarding/errors';

/**
 * Refuses a request whose request line has no HTTP version (HTTP/0.9 form, which Node's
 * parser accepts, headers and all). That is what a raw CR or LF inside a request target
 * leaves behind: the line is cut at the break and the text after it is read as a header.
 */
export function refuseVersionlessRequestLine(
  req: Request,
  res: Response,
  next: NextFunction,
): void {
  if (req.httpVersionMajor >= 1) {
    next();
    return;
  }
  sendError(
    req,
    res,
    new InputError(
      'The request line has no HTTP version (a line break in the request target, or HTTP/0.9); send HTTP/1.1',
    ),
  );
}
