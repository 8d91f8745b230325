import t from 'tap'
import { buildTestApp } from '../helpers/app.js'

t.test('OpenAPI document matches the routes', async (t) => {
  const routes: Array<{ method: string, url: string }> = []
  const { app } = await buildTestApp(t)

  const response = await app.inject({ method: 'GET', url: '/docs/json' })
  const document = response.json()
  app.printRoutes({ commonPrefix: false })
  for (const [method, url] of [['GET', '/notes'], ['POST', '/notes'], ['GET', '/health'], ['GET', '/ready']]) {
    routes.push({ method: method as string, url: url as string })
    t.ok(app.hasRoute({ method: method as 'GET', url: url as string }), `${method} ${url} is a route`)
    t.ok(document.paths[url as string]?.[(method as string).toLowerCase()], `${method} ${url} is documented`)
  }

  t.equal(response.statusCode, 200)
  t.equal(document.openapi, '3.0.3')
  t.same(Object.keys(document.paths).sort(), ['/health', '/notes', '/ready'])
  t.equal(routes.length, 4)
})

t.test('OpenAPI document describes the notes routes', async (t) => {
  const { app } = await buildTestApp(t)

  const document = (await app.inject({ method: 'GET', url: '/docs/json' })).json()
  const push = document.paths['/notes'].post
  const pull = document.paths['/notes'].get

  t.same(push.security, [{ bearerAuth: [] }])
  t.same(Object.keys(push.responses).sort(), ['200', '201', '400', '401', '409', '413', '415', '429', '503'])
  t.same(push.requestBody.content['application/json'].schema.required, ['noteId'])
  t.equal(push.requestBody.content['application/json'].schema.properties.noteId.pattern, '^[A-Za-z0-9._:-]{1,128}$')
  t.same(pull.parameters.map((parameter: { name: string }) => parameter.name).sort(),
    ['cursor', 'lastUpdated', 'limit', 'updated'])
  t.same(document.components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
})

t.test('GET /docs serves a browsable page', async (t) => {
  const { app } = await buildTestApp(t)

  const response = await app.inject({ method: 'GET', url: '/docs/' })

  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /text\/html/)
  t.match(response.body, /swagger-ui/i)
})
