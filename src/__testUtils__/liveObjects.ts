/*
 * Counts the live objects of given classes in this process's heap, so that a test can show
 * that work leaves none of them behind (each leaked request, response or socket shows here
 * exactly, where the heap's size moves by hundreds of KiB between identical runs).
 *
 * v8.queryObjects() does this in one call, but it is experimental (Node 20.13+) and prints an
 * ExperimentalWarning into the test run. This asks V8 the same question through the
 * inspector protocol's Runtime.queryObjects (node:inspector is stable): the objects whose
 * prototype chain holds the class's prototype, as v8.queryObjects counts them.
 */
import inspector from 'node:inspector';

type Post = (method: string, params?: object) => Promise<any>;

/**
 * The counts, by the name each class is given under. `classes` maps a name to the
 * `require(module)` expression that reaches the class from the main context (a test file
 * runs in a vm context of its own, which the inspector does not evaluate in by default),
 * e.g. `{ Socket: "require('node:net').Socket" }`.
 */
export async function countLiveObjects<K extends string>(
  classes: Record<K, string>,
): Promise<Record<K, number>> {
  const session = new inspector.Session();
  session.connect();
  const post: Post = (method, params) =>
    new Promise((resolve, reject) =>
      session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))),
    );
  const objectGroup = 'countLiveObjects';
  try {
    const counts = {} as Record<K, number>;
    for (const name of Object.keys(classes) as K[]) {
      // The Command Line API gives the expression `require` (as in a debugger's console).
      const prototype = await post('Runtime.evaluate', {
        expression: `(${classes[name]}).prototype`,
        includeCommandLineAPI: true,
        objectGroup,
      });
      if (prototype.exceptionDetails) {
        throw new Error(`countLiveObjects: ${classes[name]}: ${prototype.exceptionDetails.text}`);
      }
      const { objects } = await post('Runtime.queryObjects', {
        prototypeObjectId: prototype.result.objectId,
        objectGroup,
      });
      const length = await post('Runtime.callFunctionOn', {
        objectId: objects.objectId,
        functionDeclaration: 'function () { return this.length; }',
        returnByValue: true,
        objectGroup,
      });
      counts[name] = length.result.value;
    }
    return counts;
  } finally {
    await post('Runtime.releaseObjectGroup', { objectGroup });
    session.disconnect();
  }
}
