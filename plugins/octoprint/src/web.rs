//! The web paths an OctoPrint serves beside its API, which clients and monitors probe: the
//! online checks, `robots.txt`, the login page, the reverse-proxy test and UPnP discovery.
//! The farm has no OctoPrint web interface of its own; its pages point to the farm's dashboard.

use printfarm_sdk::html::escape;
use printfarm_sdk::{Error, Request, Response};

use crate::settings::printer_uuid;
use crate::{auth, csrf};

/// A 1×1 transparent GIF: what OctoPrint's `online.gif` and `cached.gif` answer with.
const PIXEL_GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff\x21\xf9\x04\x01\x00\x00\x00\x00\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3b";

/// `GET /online.txt`: `online`, for uptime monitors.
pub fn online_txt(_req: &Request) -> Result<Response, Error> {
    Ok(Response::text(200, "online\n"))
}

/// `GET /online.gif` and `/cached.gif`: a pixel.
pub fn pixel(_req: &Request) -> Result<Response, Error> {
    Ok(Response::bytes(200, "image/gif", PIXEL_GIF))
}

/// `GET /robots.txt`: no crawling.
pub fn robots(_req: &Request) -> Result<Response, Error> {
    Ok(Response::text(200, "User-agent: *\nDisallow: /\n"))
}

/// `GET /`: with credentials, a page that says where the farm's dashboard is; without, a
/// redirect to the login page, as OctoPrint's web interface does.
pub fn index(req: &Request) -> Result<Response, Error> {
    if auth::optional(req)?.is_none() {
        return Ok(Response::redirect(
            &req.url_for("/login/?redirect=/?&permissions=STATUS,SETTINGS_READ"),
        ));
    }
    Ok(Response::html(
        200,
        page(
            req,
            "This printer is part of a printfarm farm: manage it from the farm's dashboard.",
        ),
    ))
}

/// `GET /login` and `/login/`: logged in already (a key), back to `/`; otherwise the page.
pub fn login(req: &Request) -> Result<Response, Error> {
    let response = if auth::optional(req)?.is_some() {
        Response::redirect(&req.url_for("/"))
    } else {
        Response::html(200, page(req, "Log in on the farm's dashboard; OctoPrint clients use an API key of the farm (X-Api-Key)."))
    };
    Ok(csrf::with_cookie(req, response))
}

/// `GET /recovery`: OctoPrint's recovery page, for admins; here the login page leads to the
/// farm's dashboard.
pub fn recovery(req: &Request) -> Result<Response, Error> {
    let target = if auth::optional(req)?.is_some() {
        "/recovery/"
    } else {
        "/login/?redirect=/recovery/?&permissions=ADMIN"
    };
    Ok(Response::redirect(&req.url_for(target)))
}

/// `GET /reverse_proxy_test/`: what this surface sees of the request, for checking a proxy.
pub fn reverse_proxy_test(req: &Request) -> Result<Response, Error> {
    let header = |name: &str| escape(req.header(name).unwrap_or("-"));
    let body = format!(
        "<p>Base URL seen: <code>{}</code></p><ul><li>Host: {}</li><li>X-Forwarded-Host: {}</li>\
         <li>X-Forwarded-Proto: {}</li><li>X-Script-Name: {}</li></ul>",
        escape(&req.url_for("/")),
        header("host"),
        header("x-forwarded-host"),
        header("x-forwarded-proto"),
        header("x-script-name"),
    );
    Ok(Response::html(200, page(req, &body)))
}

/// `GET /plugin/discovery/discovery.xml`: the UPnP device description (the printer's stable
/// UUID, as `upnpUuid` in the settings).
pub fn discovery_xml(req: &Request) -> Result<Response, Error> {
    let printer = req.require_printer()?;
    let xml = format!(
        "<?xml version=\"1.0\"?>\n<root xmlns=\"urn:schemas-upnp-org:device-1-0\">\n\
         <specVersion><major>1</major><minor>0</minor></specVersion>\n<device>\n\
         <deviceType>urn:schemas-upnp-org:device:Basic:1</deviceType>\n\
         <friendlyName>OctoPrint instance on {}</friendlyName>\n\
         <manufacturer>The OctoPrint Project</manufacturer>\n\
         <manufacturerURL>https://octoprint.org/</manufacturerURL>\n\
         <UDN>uuid:{}</UDN>\n<serviceList>\n</serviceList>\n\
         <presentationURL>{}</presentationURL>\n</device>\n</root>\n",
        escape(printer),
        printer_uuid(printer),
        escape(&req.url_for("/")),
    );
    Ok(Response::bytes(200, "application/xml", xml))
}

fn page(req: &Request, body: &str) -> String {
    let printer = escape(req.printer().unwrap_or("printer"));
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{printer}</title></head><body><h1>{printer}</h1><p>{body}</p></body></html>"
    )
}
